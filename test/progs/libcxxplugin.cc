// libcxxplugin.so - a C++ plugin for cxx_plugin_host, a C program that
// dlopen()s it with RTLD_LOCAL: libstdc++ comes in with the plugin, outside
// the global scope.  Its constructor and cxxplugin_run use operator
// new/delete (plain, array, aligned, nothrow), std::string and std::vector,
// and throw and catch exceptions, including std::bad_alloc from a failed
// operator new.
#include <cstdint>
#include <cstdio>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

static std::vector<std::string> *ctor_strings;
static std::size_t ctor_caught;

// A size no allocator can serve, hidden from the optimiser.
static volatile std::size_t huge = std::size_t(1) << 62;

struct Init {
	Init()
	{
		ctor_strings = new std::vector<std::string>;
		for (int i = 0; i < 50; i++)
			ctor_strings->push_back("a string built by the plugin's constructor, number " +
						std::to_string(i));
		try {
			throw std::runtime_error("thrown and caught in the constructor");
		} catch (const std::exception &e) {
			ctor_caught = std::string(e.what()).size();
		}
	}
	~Init() { delete ctor_strings; }
} init;

__attribute__((noinline)) static long thrower(int depth)
{
	std::vector<int> v(8, depth);
	if (depth == 0)
		throw std::out_of_range("depth " + std::to_string(v[0]));
	return thrower(depth - 1) + v[1];
}

struct alignas(64) Line {
	char bytes[64];
};

// The plugin's allocations the heap profile must show (by this name).
extern "C" __attribute__((noinline)) long cxxplugin_fill(int n)
{
	std::vector<long> v(n);
	std::vector<std::string> words;
	for (int i = 0; i < n; i++) {
		v[i] = i;
		if (i % 10 == 0)
			words.push_back("word number " + std::to_string(i) + " of the plugin's list");
	}
	long sum = 0;
	for (long x : v)
		sum += x;
	for (const auto &w : words)
		sum += (long)w.size();
	return sum;
}

extern "C" long cxxplugin_run(int n, char *out, std::size_t len)
{
	long sum = cxxplugin_fill(n);
	int caught = 0;
	try {
		thrower(20);
	} catch (const std::out_of_range &e) {
		caught += std::string(e.what()) == "depth 0";
	}
	try {
		char *p = new char[huge];
		p[0] = 1;
		delete[] p;
	} catch (const std::bad_alloc &) {
		caught++;
	}
	char *q = new (std::nothrow) char[huge];
	int nothrow_null = q == nullptr;
	delete[] q;
	Line *lines = new Line[4];
	int aligned = ((std::uintptr_t)lines % 64) == 0;
	delete[] lines;
	std::snprintf(out, len, "sum %ld caught %d nothrow-null %d aligned %d ctor %zu strings %zu",
		      sum, caught, nothrow_null, aligned, ctor_caught, ctor_strings->size());
	return sum;
}
