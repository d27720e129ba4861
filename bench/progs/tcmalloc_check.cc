/*
 * tcmalloc_check - is tcmalloc's allocation sampling switched on?
 *
 * tcmalloc's sampler (TCMALLOC_SAMPLE_PARAMETER) writes no file: its
 * samples are only reachable through MallocExtension::GetHeapSample().  To
 * show that the "tcmalloc sampling" configuration of the benchmarks really
 * samples (and that plain tcmalloc does not), this program allocates 64 MiB
 * in 4 KiB blocks, keeps them, and prints how many samples the heap sample
 * holds: about 128 at a 512 KiB period, 0 with sampling off.
 *
 * Prints {"samples": N}.  Linked with -ltcmalloc.
 */
#include <gperftools/malloc_extension.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main()
{
	std::vector<void *> keep;
	for (int i = 0; i < 16384; i++)
		keep.push_back(std::malloc(4096));
	std::string s;
	MallocExtension::instance()->GetHeapSample(&s);
	/* One line per sampled stack, after the "heap profile:" header and
	 * before MAPPED_LIBRARIES; each reads "N: B [N: B] @ addrs". */
	long samples = 0;
	size_t pos = 0;
	while (pos < s.size()) {
		size_t end = s.find('\n', pos);
		if (end == std::string::npos)
			end = s.size();
		std::string line = s.substr(pos, end - pos);
		if (line.rfind("MAPPED_LIBRARIES", 0) == 0)
			break;
		if (line.rfind("heap", 0) != 0 && line.find(" @ ") != std::string::npos)
			samples += std::strtol(line.c_str(), nullptr, 10);
		pos = end + 1;
	}
	std::printf("{\"samples\": %ld}\n", samples);
	for (void *p : keep)
		std::free(p);
	return 0;
}
