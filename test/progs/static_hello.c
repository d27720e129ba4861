/* static_hello - built with -static: LD_PRELOAD cannot apply to it. */
#include <stdio.h>
int main(void)
{
	printf("static hello\n");
	return 0;
}
