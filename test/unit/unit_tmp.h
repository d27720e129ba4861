/*
 * unit_tmp.h - a private temporary directory for a unit test's files.
 */
#ifndef CPROF_UNIT_TMP_H
#define CPROF_UNIT_TMP_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * A private directory under /tmp for a test's files, removed at exit:
 * unit_tmp_make("name") creates /tmp/cprof-name-XXXXXX into unit_tmp and
 * returns false (unit_tmp empty) when it cannot.
 */
static char unit_tmp[64];

static void unit_tmp_remove(void)
{
	char cmd[128];

	if (unit_tmp[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", unit_tmp);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", unit_tmp);
	}
}

static bool unit_tmp_make(const char *name)
{
	snprintf(unit_tmp, sizeof(unit_tmp), "/tmp/cprof-%s-XXXXXX", name);
	if (!mkdtemp(unit_tmp)) {
		perror("mkdtemp");
		unit_tmp[0] = '\0';
		return false;
	}
	atexit(unit_tmp_remove);
	return true;
}

#endif
