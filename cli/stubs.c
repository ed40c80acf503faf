/* stubs.c — commands not written yet (temporary during bring-up). */
#include "cli.h"
#include <stdio.h>
#define STUB(n) int cmd_##n(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "wafer " #n ": not built yet\n"); return 2; }
STUB(run) STUB(info) STUB(quantize) STUB(score)
