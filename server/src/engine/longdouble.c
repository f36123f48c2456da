/* INCRBYFLOAT's arithmetic in C's long double, parsed and printed exactly as Redis does
 * (strtold, then "%.17Lf" with trailing zeros trimmed), so results match Redis digit for digit.
 * Rust has no long double type, hence this small shim. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses like Redis's string2ld: no spaces, whole string consumed, finite, not NaN. */
static int parse_ld(const char *s, size_t len, long double *out) {
    char buf[5120];
    char *end;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (buf[0] == ' ' || buf[0] == '\t' || buf[0] == '\n' || buf[0] == '\r' || buf[0] == '\v' ||
        buf[0] == '\f')
        return 0;
    errno = 0;
    long double v = strtold(buf, &end);
    if ((size_t)(end - buf) != len || (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) || isnan(v))
        return 0;
    *out = v;
    return 1;
}

/* Returns 1 on success with the formatted sum in out, 0 when either input is not a float,
 * -1 when the result is NaN or infinite. */
int slotcache_ld_add(const char *a, size_t alen, const char *b, size_t blen, char *out, size_t outlen) {
    long double x, y;
    if (!parse_ld(a, alen, &x) || !parse_ld(b, blen, &y)) return 0;
    long double sum = x + y;
    if (isnan(sum) || isinf(sum)) return -1;
    int n = snprintf(out, outlen, "%.17Lf", sum);
    if (n <= 0 || (size_t)n >= outlen) return -1;
    if (strchr(out, '.') != NULL) {
        char *p = out + n - 1;
        while (*p == '0') { *p = '\0'; p--; }
        if (*p == '.') *p = '\0';
    }
    if (strcmp(out, "-0") == 0) strcpy(out, "0");
    return 1;
}
