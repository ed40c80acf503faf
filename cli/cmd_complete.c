/* cmd_complete.c — `wafer complete` (being written). */
#include "cli.h"
int cmd_complete(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "wafer complete: not built yet\n");
    return 2;
}
