/* kernels.c — builds the kernel table once at start-up: the scalar
 * reference for every entry, then the overrides of each instruction set up
 * to the one asked for. The *_avx2 / *_avx512 files only exist in x86 builds. */
#include "cpu/kernels.h"

#include <string.h>

void wf_kernels_init(wf_kernels *k, wf_isa isa) {
    memset(k, 0, sizeof *k);
    wf_kernels_fill_scalar(k);
    k->isa = WF_ISA_SCALAR;
#if defined(WF_X86)
    wf_cpu_features f;
    wf_cpu_detect(&f);
    /* Never install code the CPU (or OS) cannot run, whatever was asked. */
    const wf_isa best = wf_cpu_best_isa(&f);
    if (isa > best) isa = best;
    if (isa >= WF_ISA_AVX2) {
        wf_kernels_fill_avx2(k);
        k->isa = WF_ISA_AVX2;
    }
    if (isa >= WF_ISA_AVX512) {
        wf_kernels_fill_avx512(k, &f);
        k->isa = WF_ISA_AVX512;
    }
#else
    (void)isa;
#endif
}
