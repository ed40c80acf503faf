#include <stddef.h>
#include <stdio.h>

/* Print the values of v (n of them) separated by commas. */
static void print_list(FILE *f, const int *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (i) fputs(", ", f);
        fprintf(f, "%d", v[i]);
    }
    fputc('\n', f);
}

int main(void) {
    int primes[] = {2, 3, 5, 7, 11, 13};
    int squares[] = {1, 4, 9, 16, 25};
    print_list(stdout, primes, sizeof primes / sizeof primes[0]);
    print_list(stdout, squares, sizeof squares / sizeof squares[0]);
    return 0;
}
