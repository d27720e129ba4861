// labels_example_cxx - profiler labels from C++ (docs/profiles.md, "Labels").
//
// A scope guard makes a label set current for the duration of a block and
// restores the previous one on the way out, exceptions included.  The
// worker threads run the same code under different sets ("pool=fast",
// "pool=slow"), so `go tool pprof -tagfocus=pool=slow` shows the slow
// pool alone.  Builds with the header alone; without libcprof.so the
// guard does nothing.
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <cprof.h>

namespace {

class LabelScope {
public:
	explicit LabelScope(cprof_labels_t set) : prev_(cprof_labels_set(set)) {}
	~LabelScope() { cprof_labels_set(prev_); }
	LabelScope(const LabelScope &) = delete;
	LabelScope &operator=(const LabelScope &) = delete;

private:
	cprof_labels_t prev_;
};

cprof_labels_t intern(std::initializer_list<const char *> kv)
{
	std::vector<const char *> v(kv);
	return cprof_labels_intern(v.data(), static_cast<int>(v.size() / 2));
}

volatile unsigned long sink;

__attribute__((noinline)) void transform(int rounds)
{
	for (int i = 0; i < rounds; i++) {
		std::vector<std::string> words(64, std::string(100, 'x'));
		for (auto &w : words)
			sink += w.size();
	}
}

void worker(cprof_labels_t pool, int rounds)
{
	LabelScope scope(pool); // labels this thread's samples until return
	transform(rounds);
}

} // namespace

int main()
{
	cprof_labels_t fast = intern({"pool", "fast"});
	cprof_labels_t slow = intern({"pool", "slow"});
	std::thread a(worker, fast, 30000), b(worker, slow, 90000);
	a.join();
	b.join();
	std::printf("labels %s\n", fast ? "on" : "off (libcprof.so not loaded)");
}
