/* cli.h — subcommands of the `wafer` executable and their shared helpers. */
#ifndef WF_CLI_H
#define WF_CLI_H

#include "wafer.h"

int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);

#endif
