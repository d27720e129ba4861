/*
 * demangle.c - C++ and Rust names through libiberty (see demangle.h).
 */
#include <stdlib.h>
#include <string.h>

#include <libiberty/demangle.h>

#include "demangle.h"

/* Does s[0..i) end with "operator" (possibly followed by one '<' or '-',
 * for operator<< and operator->)? */
static bool after_operator(const char *s, size_t i)
{
	static const char op[] = "operator";
	size_t n = sizeof(op) - 1;
	while (i > 0 && (s[i - 1] == '<' || s[i - 1] == '-' || s[i - 1] == '>') && i > n)
		i--;
	return i >= n && memcmp(s + i - n, op, n) == 0;
}

void demangle_strip_templates(char *s)
{
	size_t w = 0;
	for (size_t i = 0; s[i];) {
		if (s[i] == '<' && !after_operator(s, i + 1) && !after_operator(s, i)) {
			int depth = 0;
			size_t j = i;
			for (; s[j]; j++) {
				if (s[j] == '<')
					depth++;
				else if (s[j] == '>' && --depth == 0)
					break;
			}
			if (s[j] == '>') {
				i = j + 1;
				continue;
			}
			/* unbalanced: keep the rest as it is */
		}
		s[w++] = s[i++];
	}
	s[w] = '\0';
}

const char *demangle_simple(struct region *r, const char *sym)
{
	if (!sym || !((sym[0] == '_' && (sym[1] == 'Z' || sym[1] == 'R')) ||
		      (sym[0] == '_' && sym[1] == '_' && sym[2] == 'Z')))
		return NULL;
	/* DMGL_AUTO tries Rust (legacy and v0) and then C++; without
	 * DMGL_PARAMS there are no parameter lists, without DMGL_VERBOSE no
	 * Rust hash suffix. */
	char *d = cplus_demangle(sym, DMGL_AUTO);
	if (!d)
		return NULL;
	demangle_strip_templates(d);
	const char *out = region_strdup(r, d);
	free(d);
	return out;
}
