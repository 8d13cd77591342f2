/* RFC 3339 timestamps. Verification code never reads the clock: `now` is always an argument. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ccgate/util.h"

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days from 1970-01-01 to a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

ccg_result ccg_time_parse_rfc3339(const char *s, ccg_time *out)
{
    ccg_result result = CCG_FAILURE;
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    size_t n = s ? strlen(s) : 0;
    const char *p = NULL;

    CCG_ENSURE_MSG(n >= 20 && n <= 40, CCG_R_INPUT_BAD_TIME, "expected YYYY-MM-DDTHH:MM:SSZ");
    CCG_ENSURE_MSG(digits(s, 4, &y) == 0 && s[4] == '-' && digits(s + 5, 2, &mo) == 0 && s[7] == '-' &&
                       digits(s + 8, 2, &d) == 0 && (s[10] == 'T' || s[10] == 't') &&
                       digits(s + 11, 2, &h) == 0 && s[13] == ':' && digits(s + 14, 2, &mi) == 0 &&
                       s[16] == ':' && digits(s + 17, 2, &sec) == 0,
                   CCG_R_INPUT_BAD_TIME, "expected YYYY-MM-DDTHH:MM:SSZ, got '%.40s'", s);
    p = s + 19;
    if (*p == '.') {
        p++;
        CCG_ENSURE_MSG(*p >= '0' && *p <= '9', CCG_R_INPUT_BAD_TIME, "empty fractional seconds");
        while (*p >= '0' && *p <= '9') {
            p++;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else {
        CCG_ENSURE_MSG((*p == '+' || *p == '-') && strlen(p) == 6 && digits(p + 1, 2, &oh) == 0 && p[3] == ':' &&
                           digits(p + 4, 2, &om) == 0 && oh < 24 && om < 60,
                       CCG_R_INPUT_BAD_TIME, "bad time zone in '%.40s'", s);
        sign = *p == '+' ? 1 : -1;
        p += 6;
    }
    CCG_ENSURE_MSG(*p == '\0', CCG_R_INPUT_BAD_TIME, "trailing characters in '%.40s'", s);
    CCG_ENSURE_MSG(mo >= 1 && mo <= 12 && d >= 1 && d <= days_in_month(y, mo) && h < 24 && mi < 60 && sec <= 60,
                   CCG_R_INPUT_BAD_TIME, "out-of-range field in '%.40s'", s);
    if (sec == 60) {
        sec = 59; /* a leap second is clamped: certificates are not that precise */
    }
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_time_format_rfc3339(ccg_time t, char *out, size_t out_len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, out_len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(out, out_len, "@%lld", (long long)t);
    }
}

ccg_time ccg_time_now(void) { return (ccg_time)time(NULL); }
