/* placeholder replaced below */
#include "cpu/kernels.h"
void wf_kernels_fill_lowbit_avx512(wf_kernels *k) { (void)k; }
