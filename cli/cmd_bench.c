/* cmd_bench.c — `wafer bench` (being written). */
#include "cli.h"
#include <stdio.h>
int cmd_bench(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "wafer bench: not built yet\n"); return 2; }
