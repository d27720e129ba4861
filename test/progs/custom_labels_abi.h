/*
 * custom_labels_abi.h - Polar Signals' custom-labels ABI, version 1, as
 * the library that publishes labels defines it (for the test programs
 * that stand for such a library and its user).
 */
#ifndef CUSTOM_LABELS_ABI_H
#define CUSTOM_LABELS_ABI_H

#include <stddef.h>

struct cl_string {
	size_t len;
	const unsigned char *buf;
};
struct cl_label {
	struct cl_string key, value;
};
struct cl_set {
	struct cl_label *storage;
	size_t count;
	size_t capacity;
};

#endif
