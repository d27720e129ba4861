/*
 * demangle.h - readable names for C++ and Rust symbols.
 *
 * Profiles carry each function's raw symbol as system_name and a readable
 * name as name, the form `go tool pprof` shows by default: namespaces and
 * classes kept, parameter lists and template arguments dropped
 * (`shop::detail::Matrix::mul`, `std::vector::push_back`,
 * `core::ptr::drop_in_place`).  A consumer that wants more (pprof's
 * -symbolize=demangle=full) demangles system_name itself.
 *
 * The demangler is libiberty's (GNU binutils' and GCC's own, Debian's
 * libiberty-dev), linked statically and hidden: it handles the Itanium C++
 * ABI and both Rust schemes (legacy and v0).  It allocates with malloc;
 * callers hold the reentrancy guard (dump time), so that passes through
 * unprofiled.
 *
 * Context: the dump lock's holder.
 */
#ifndef CPROF_DEMANGLE_H
#define CPROF_DEMANGLE_H

#include "arena.h"

/* The readable form of a mangled symbol, in r; NULL if `sym` is not a
 * mangled C++ or Rust name (a C name is already readable). */
const char *demangle_simple(struct region *r, const char *sym);

/* Remove template argument lists ("<...>") from a demangled name, in place;
 * operator<, operator<< and friends are kept.  Exposed for tests. */
void demangle_strip_templates(char *s);

#endif
