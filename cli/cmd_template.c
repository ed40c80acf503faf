/* cmd_template.c — `wafer template` (being written). */
#include "cli.h"
int cmd_template(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "wafer template: not built yet\n");
    return 2;
}
