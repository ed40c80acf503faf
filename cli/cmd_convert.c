/* cmd_convert.c — `wafer convert` (being written). */
#include "cli.h"
int cmd_convert(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "wafer convert: not built yet\n");
    return 2;
}
