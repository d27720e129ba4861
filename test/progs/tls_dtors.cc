// tls_dtors - memory freed by thread-local destructors and pthread key
// destructors that run after cprof's own per-thread state is gone (its
// key is created first, so its destructor runs first).  Allocations are
// sampled (the test uses CPROF_HEAP_RATE=1): every free must still be
// found, so nothing from tls_site remains in use at exit.
#include <pthread.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

__attribute__((noinline)) void *tls_site(size_t n)
{
	void *p = std::malloc(n);
	std::memset(p, 1, n);
	return p;
}

struct Holder {
	void *p = tls_site(3000);
	~Holder() { std::free(p); }
};

static thread_local Holder holder;
static pthread_key_t key;

static void key_dtor(void *p)
{
	std::free(p);
}

int main()
{
	pthread_key_create(&key, key_dtor);
	std::vector<std::thread> ts;
	for (int i = 0; i < 64; i++)
		ts.emplace_back([] {
			(void)holder.p;
			pthread_setspecific(key, tls_site(5000));
		});
	for (auto &t : ts)
		t.join();
	std::printf("threads done\n");
	return 0;
}
