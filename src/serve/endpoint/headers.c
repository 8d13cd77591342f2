/* How often a request carries a header or query argument. A value given twice is refused rather than
 * resolved: libmicrohttpd's lookup answers the first, and a gateway or log in front of the endpoint may
 * read the last, so two parties would judge different requests (a smuggling seam). */
#include "ep_internal.h"

#include <strings.h>

typedef struct {
    const char *name;
    unsigned count;
} value_count;

static enum MHD_Result count_one(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    value_count *c = cls;
    (void)kind;
    (void)value;
    if (key != NULL && strcasecmp(key, c->name) == 0) {
        c->count++;
    }
    return MHD_YES;
}

unsigned ep_value_count(struct MHD_Connection *mc, enum MHD_ValueKind kind, const char *name)
{
    value_count c = {.name = name, .count = 0};
    (void)MHD_get_connection_values(mc, kind, count_one, &c);
    return c.count;
}
