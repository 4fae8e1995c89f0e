// SPDX-License-Identifier: MIT
// Reading the start-info page: key=value words of the command line, image module names.
#include <moat/guest.h>

// Finds the word `key` or `key=...`; returns where its value starts (after '=') or the word end.
static const char *find_word(const char *key, const char **end)
{
    const char *p = start_info->cmd_line;
    const char *limit = p + strnlen(p, sizeof(start_info->cmd_line));
    size_t klen = strlen(key);

    while (p < limit) {
        while (p < limit && *p == ' ')
            p++;
        const char *w = p;
        while (p < limit && *p != ' ')
            p++;
        if ((size_t)(p - w) >= klen && strncmp(w, key, klen) == 0 &&
            (w + klen == p || w[klen] == '=')) {
            *end = p;
            return w + klen == p ? p : w + klen + 1;
        }
    }
    return NULL;
}

bool cmdline_get(const char *key, char *buf, size_t size)
{
    const char *end, *value = find_word(key, &end);
    if (!value || size == 0)
        return false;
    size_t n = (size_t)(end - value);
    if (n >= size)
        n = size - 1;
    memcpy(buf, value, n);
    buf[n] = '\0';
    return true;
}

unsigned long cmdline_ulong(const char *key, unsigned long dflt)
{
    char text[24];
    unsigned long value = 0, base = 10;
    const char *p = text;

    if (!cmdline_get(key, text, sizeof(text)) || !text[0])
        return dflt;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    for (; *p; p++) {
        unsigned long digit;
        if (*p >= '0' && *p <= '9')
            digit = (unsigned long)(*p - '0');
        else if (base == 16 && (*p | 0x20) >= 'a' && (*p | 0x20) <= 'f')
            digit = (unsigned long)((*p | 0x20) - 'a' + 10);
        else
            return dflt;
        value = value * base + digit;
    }
    return value;
}

bool cmdline_has(const char *word)
{
    const char *end;
    return find_word(word, &end) != NULL;
}

int find_image(const char *name)
{
    for (unsigned i = 0; i < start_info->nr_images && i < START_MAX_IMAGES; i++)
        if (strncmp(start_info->image_names[i], name, sizeof(start_info->image_names[i])) == 0)
            return (int)i;
    return -1;
}
