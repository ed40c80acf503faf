/* test_buf.c — the growable array and byte string of src/base/buf.h.
 *
 * Arrays: appended contents read back element for element (ints, and a
 * 24-byte struct), the capacity always holds the size and grows by
 * doubling (a few reallocations for 100k appends), reserve never shrinks,
 * sizes whose byte count overflows are refused with the array untouched.
 * Byte strings: add / str / printf give the concatenation with a NUL after
 * it (embedded NUL bytes kept, printf output longer than the capacity),
 * take hands the string over and empties the buffer, clear empties it and
 * keeps its memory, and a failed add (an overflowing size) changes
 * nothing but the failed flag, which stays set through later adds. */
#include "base/buf.h"
#include "testutil.h"

#include <stdint.h>
#include <string.h>

typedef struct item {
    int64_t a;
    double b;
    int32_t c;
} item;

static void test_array(void) {
    int32_t *v = NULL;
    size_t n = 0, cap = 0, grows = 0, last_cap = 0;
    bool ok = true;
    for (int32_t i = 0; i < 100000; i++) {
        ok &= WF_ARRAY_APPEND(v, n, cap, &i, 1);
        if (cap != last_cap) grows++, last_cap = cap;
        ok &= cap >= n;
    }
    CHECK(ok && n == 100000, "100000 appends (n %zu)", n);
    bool same = true;
    for (size_t i = 0; i < n; i++) same &= v[i] == (int32_t)i;
    CHECK(same, "the appended ints read back in order");
    CHECK(grows <= 14, "capacity doubles: %zu reallocations for 100000 ints", grows);
    /* several at once, and none */
    int32_t more[5] = {7, 8, 9, 10, 11};
    CHECK(WF_ARRAY_APPEND(v, n, cap, more, 5) && n == 100005 && v[100004] == 11 && v[100000] == 7, "append 5");
    CHECK(WF_ARRAY_APPEND(v, n, cap, NULL, 0) && n == 100005, "append nothing (NULL source)");
    /* reserve keeps the contents and never shrinks */
    size_t c0 = cap;
    CHECK(WF_ARRAY_RESERVE(v, cap, 10) && cap == c0 && v[99999] == 99999, "reserve below the capacity changes nothing");
    CHECK(WF_ARRAY_RESERVE(v, cap, c0 + 1) && cap >= c0 + 1 && v[100004] == 11, "reserve above it grows, contents kept");
    /* overflow: refused, nothing changed */
    int32_t *before = v;
    size_t cap_before = cap, n_before = n;
    CHECK(!WF_ARRAY_RESERVE(v, cap, SIZE_MAX / 2) && v == before && cap == cap_before,
          "reserve of SIZE_MAX/2 ints (byte count overflows) refused, array untouched");
    size_t big = SIZE_MAX - 2;
    CHECK(!wf_array_append(&v, &big, &cap, sizeof *v, more, 5) && big == SIZE_MAX - 2 && v == before,
          "append past SIZE_MAX elements refused");
    CHECK(n == n_before && v[0] == 0, "contents after the refusals");
    free(v);

    /* a struct element */
    item *it = NULL;
    size_t ni = 0, ci = 0;
    for (int i = 0; i < 1000; i++) {
        item x = {(int64_t)i * 3, i * 0.5, -i};
        if (!WF_ARRAY_APPEND(it, ni, ci, &x, 1)) break;
    }
    bool good = ni == 1000;
    for (size_t i = 0; good && i < ni; i++)
        good = it[i].a == (int64_t)i * 3 && it[i].b == (double)i * 0.5 && it[i].c == -(int32_t)i;
    CHECK(good, "1000 structs of %zu bytes read back", sizeof(item));
    free(it);
#if !defined(__SANITIZE_ADDRESS__)
    /* an allocation the system refuses (not under ASan, which aborts on it) */
    char *h = NULL;
    size_t hc = 0;
    CHECK(!WF_ARRAY_RESERVE(h, hc, SIZE_MAX / 4) && h == NULL && hc == 0, "a failed allocation leaves the array empty");
#endif
}

static void test_buf(void) {
    wf_buf b = {0};
    CHECK(b.p == NULL && b.n == 0, "empty buffer");
    CHECK(wf_buf_str(&b, "hello") && b.n == 5 && strcmp(b.p, "hello") == 0, "str");
    CHECK(wf_buf_add(&b, ", \0x", 4) && b.n == 9 && memcmp(b.p, "hello, \0x", 10) == 0, "add keeps a NUL byte, NUL after");
    CHECK(wf_buf_printf(&b, "[%d|%s]", 42, "ab") && b.n == 16 && memcmp(b.p + 9, "[42|ab]", 8) == 0,
          "printf appends, NUL after");
    char longs[3000];
    memset(longs, 'z', sizeof longs - 1);
    longs[sizeof longs - 1] = 0;
    CHECK(wf_buf_printf(&b, "%s!", longs) && b.n == 16 + 3000 && b.p[b.n - 1] == '!' && b.p[b.n] == 0 &&
              b.p[16] == 'z' && b.p[16 + 2998] == 'z',
          "printf longer than the capacity (%zu)", b.cap);
    CHECK(wf_buf_add(&b, "", 0) && b.n == 3016 && !b.failed, "adding nothing");
    size_t n = 0;
    char *s = wf_buf_take(&b, &n);
    CHECK(s && n == 3016 && memcmp(s, "hello", 5) == 0 && b.p == NULL && b.n == 0 && b.cap == 0, "take");
    free(s);
    CHECK(wf_buf_take(&b, &n) == NULL && n == 0, "take from an empty buffer");

    /* clear keeps the memory */
    CHECK(wf_buf_str(&b, "again") && b.n == 5, "str after take");
    size_t cap = b.cap;
    char *mem = b.p;
    wf_buf_clear(&b);
    CHECK(b.n == 0 && b.p == mem && b.cap == cap && b.p[0] == 0, "clear keeps the memory, empty string");
    wf_buf_free(&b);

    /* a failure is remembered */
    CHECK(wf_buf_str(&b, "abc"), "str after take");
    CHECK(!wf_buf_add(&b, "x", SIZE_MAX - 1) && b.failed && b.n == 3 && strcmp(b.p, "abc") == 0,
          "an overflowing add fails, contents kept");
    CHECK(wf_buf_str(&b, "def") && b.failed && b.n == 6 && strcmp(b.p, "abcdef") == 0,
          "a later add works and failed stays set");
    wf_buf_free(&b);
    CHECK(b.p == NULL && b.n == 0 && !b.failed, "free resets");
}

int main(void) {
    test_array();
    test_buf();
    return t_done("test_buf");
}
