/*
 * libcustomlabels - a stand-in for Polar Signals' custom-labels library:
 * it exports the custom-labels ABI v1 (custom_labels_abi_version = 1 and
 * the thread-local pointer custom_labels_current_set to the thread's
 * label set), in a shared library of that name, as the ABI asks
 * (test/progs/custom_labels.c sets the labels).
 */
#include <stddef.h>
#include <stdint.h>

#include "custom_labels_abi.h"

__attribute__((visibility("default"))) const uint32_t custom_labels_abi_version = 1;
__attribute__((visibility("default"))) __thread struct cl_set *custom_labels_current_set;

void customlabels_use(struct cl_set *set)
{
	custom_labels_current_set = set;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}
