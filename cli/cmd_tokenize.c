/* cmd_tokenize.c — `wafer tokenize` / `wafer detokenize` (being written). */
#include "cli.h"
#include <stdio.h>
int cmd_tokenize(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "wafer tokenize: not built yet\n"); return 2; }
int cmd_detokenize(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "wafer detokenize: not built yet\n"); return 2; }
