// cxx_exceptions - C++ exceptions thrown and caught across many frames on
// several threads while allocating, and a check that exception unwinding
// stays with the C++ runtime's unwinder (libgcc_s), not libunwind.
// Prints counts and the library that provides _Unwind_RaiseException.
#include <dlfcn.h>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

__attribute__((noinline)) static int deep(int n, int throw_at)
{
	std::vector<int> v(16, n);
	if (n == throw_at)
		throw std::runtime_error("boom at " + std::to_string(n));
	return deep(n + 1, throw_at) + v[3];
}

static long worker(int id)
{
	long caught = 0;
	for (int i = 0; i < 2000; i++) {
		try {
			auto p = std::make_unique<std::string>(100 + i % 50, 'x');
			deep(0, 5 + (i + id) % 40);
		} catch (const std::runtime_error &e) {
			if (std::strncmp(e.what(), "boom at ", 8) == 0)
				caught++;
		}
	}
	return caught;
}

int main()
{
	std::vector<std::thread> ts;
	long results[4] = {0, 0, 0, 0};
	for (int i = 0; i < 4; i++)
		ts.emplace_back([&results, i] { results[i] = worker(i); });
	for (auto &t : ts)
		t.join();
	long total = results[0] + results[1] + results[2] + results[3];
	Dl_info info;
	void *raise = dlsym(RTLD_DEFAULT, "_Unwind_RaiseException");
	const char *who = (raise && dladdr(raise, &info) && info.dli_fname) ? info.dli_fname : "?";
	const char *base = std::strrchr(who, '/');
	std::printf("caught %ld of %d\n", total, 4 * 2000);
	std::printf("unwinder %s\n", base ? base + 1 : who);
	return total == 4 * 2000 ? 0 : 1;
}
