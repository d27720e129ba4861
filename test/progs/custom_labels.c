/*
 * custom_labels - labels published through the custom-labels ABI v1
 * (libcustomlabels.so), with known work under each set.
 *
 * Under cprof's own set {handler=a}, the main thread burns 1 unit of CPU
 * and allocates 10 MiB (kept) with the custom set {customer=acme,
 * region=eu}, then 2 units and 20 MiB with {customer=globex, region=eu}.
 * The sets also hold what a reader must leave out: a label whose key is
 * absent (NULL), a second value for customer (the first wins) and a value
 * longer than 255 bytes (too long for cprof).  Then 1 unit with no set.
 * A thread parks in sleep with {customer=initech}.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cprof.h>

#include "custom_labels_abi.h"

void customlabels_use(struct cl_set *set);

#include "label_work.h"

#define S(x) {sizeof(x) - 1, (const unsigned char *)(x)}

static char longval[400];

__attribute__((noinline)) void parked_with_labels(void)
{
	for (;;)
		sleep(100);
}

static struct cl_label initech[] = {{S("customer"), S("initech")}};
static struct cl_set initech_set = {initech, 1, 1};

static void *parker(void *arg)
{
	(void)arg;
	customlabels_use(&initech_set);
	parked_with_labels();
	return NULL;
}

int main(void)
{
	memset(longval, 'x', sizeof(longval) - 1);
	struct cl_label acme[] = {
		{{0, NULL}, S("ignored: no key")},
		{S("customer"), S("acme")},
		{S("region"), S("eu")},
		{S("customer"), S("not-first")},
		{S("note"), {sizeof(longval) - 1, (const unsigned char *)longval}},
	};
	struct cl_label globex[] = {{S("region"), S("eu")}, {S("customer"), S("globex")}};
	struct cl_set set_acme = {acme, 5, 5}, set_globex = {globex, 2, 8};
	const char *a[] = {"handler", "a"};

	calibrate();

	cprof_labels_set(cprof_labels_intern(a, 1));
	customlabels_use(&set_acme);
	burn(1);
	keep(10);
	customlabels_use(&set_globex);
	burn(2);
	keep(20);
	customlabels_use(NULL);
	burn(1);
	cprof_labels_set(0);

	pthread_t th;
	pthread_create(&th, NULL, parker, NULL);
	usleep(100000);
	printf("{\"done\": 1}\n");
	fflush(stdout);
	return 0;
}
