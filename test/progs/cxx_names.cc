/*
 * cxx_names - a C++ program (PIE, -O1 -g) whose profile must read like a Go
 * program's: namespaced, templated member functions, and a helper that is
 * always inlined into its caller, so the profile has an inlined frame.
 *
 * shop::detail::Matrix<double>::mul burns CPU in the inlined
 * shop::detail::dot_row (source line marked HOT below) and allocates its
 * result (heap: Matrix<double>::Matrix via std::vector).
 *
 * usage: cxx_names [n] [rounds]; prints a checksum.
 */
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace shop {
namespace detail {

template <typename T>
__attribute__((always_inline)) inline T dot_row(const T *a, const T *b, int n, int stride)
{
	T s = 0;
	for (int k = 0; k < n; k++)
		s += a[k] * b[k * stride]; // HOT
	return s;
}

template <typename T>
struct Matrix {
	std::vector<T> v;
	int n;
	explicit Matrix(int n_) : v((size_t)n_ * n_, T(1)), n(n_) {}

	__attribute__((noinline)) Matrix mul(const Matrix &o) const
	{
		Matrix r(n);
		for (int i = 0; i < n; i++)
			for (int j = 0; j < n; j++)
				r.v[(size_t)i * n + j] = dot_row(&v[(size_t)i * n], &o.v[j], n, n);
		return r;
	}
};

} // namespace detail
} // namespace shop

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 220;
	int rounds = argc > 2 ? atoi(argv[2]) : 60;
	shop::detail::Matrix<double> a(n), b(n);
	double t = 0;
	for (int i = 0; i < rounds; i++) {
		shop::detail::Matrix<double> c = a.mul(b);
		t += c.v[(size_t)i % c.v.size()];
	}
	printf("%g\n", t);
	return 0;
}
