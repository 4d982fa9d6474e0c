/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE

#include "bench-wire.h"

#include <string.h>
#include <time.h>

int
ws_parse_frame (const uint8_t *buf, size_t len, WsFrame *frame)
{
  size_t hl = 2;
  uint64_t plen;

  if (len < 2)
    return 0;
  frame->fin = (buf[0] & 0x80) != 0;
  if ((buf[0] & 0x70) != 0)
    return -1; /* no extension is ever negotiated */
  frame->opcode = buf[0] & 0x0F;
  frame->masked = (buf[1] & 0x80) != 0;
  plen = buf[1] & 0x7F;
  if (plen == 126)
    {
      if (len < 4)
        return 0;
      plen = ((uint64_t) buf[2] << 8) | buf[3];
      hl = 4;
    }
  else if (plen == 127)
    {
      int i;

      if (len < 10)
        return 0;
      plen = 0;
      for (i = 0; i < 8; i++)
        plen = (plen << 8) | buf[2 + i];
      if (plen >> 62)
        return -1;
      hl = 10;
    }
  if (frame->masked)
    {
      if (len < hl + 4)
        return 0;
      memcpy (frame->mask, buf + hl, 4);
      hl += 4;
    }
  frame->payload_len = plen;
  frame->header_len = hl;
  if (len - hl < plen)
    return 0;
  return 1;
}

size_t
ws_write_header (uint8_t *out, uint8_t opcode, uint64_t payload_len, const uint8_t *mask)
{
  size_t hl = 2;
  uint8_t mbit = mask != NULL ? 0x80 : 0;

  out[0] = 0x80 | opcode;
  if (payload_len < 126)
    out[1] = mbit | (uint8_t) payload_len;
  else if (payload_len <= 0xFFFF)
    {
      out[1] = mbit | 126;
      out[2] = (uint8_t) (payload_len >> 8);
      out[3] = (uint8_t) payload_len;
      hl = 4;
    }
  else
    {
      int i;

      out[1] = mbit | 127;
      for (i = 0; i < 8; i++)
        out[2 + i] = (uint8_t) (payload_len >> (56 - 8 * i));
      hl = 10;
    }
  if (mask != NULL)
    {
      memcpy (out + hl, mask, 4);
      hl += 4;
    }
  return hl;
}

void
ws_mask (uint8_t *data, size_t len, const uint8_t mask[4])
{
  uint64_t m8;
  uint32_t m4;
  size_t i = 0;

  memcpy (&m4, mask, 4);
  m8 = ((uint64_t) m4 << 32) | m4;
  for (; i + 8 <= len; i += 8)
    {
      uint64_t v;

      memcpy (&v, data + i, 8);
      v ^= m8;
      memcpy (data + i, &v, 8);
    }
  for (; i < len; i++)
    data[i] ^= mask[i & 3];
}

void
bench_base64 (const uint8_t *in, size_t len, char *out)
{
  static const char tbl[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i;
  char *o = out;

  for (i = 0; i + 2 < len; i += 3)
    {
      uint32_t v = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8) | in[i + 2];

      *o++ = tbl[(v >> 18) & 63];
      *o++ = tbl[(v >> 12) & 63];
      *o++ = tbl[(v >> 6) & 63];
      *o++ = tbl[v & 63];
    }
  if (i < len)
    {
      uint32_t v = (uint32_t) in[i] << 16;

      if (i + 1 < len)
        v |= (uint32_t) in[i + 1] << 8;
      *o++ = tbl[(v >> 18) & 63];
      *o++ = tbl[(v >> 12) & 63];
      *o++ = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
      *o++ = '=';
    }
  *o = '\0';
}

/* SHA-1, only for the handshake's accept key. */
static uint32_t
rol32 (uint32_t v, int n)
{
  return (v << n) | (v >> (32 - n));
}

static void
sha1_block (uint32_t h[5], const uint8_t block[64])
{
  uint32_t w[80];
  uint32_t a, b, c, d, e;
  int i;

  for (i = 0; i < 16; i++)
    w[i] = ((uint32_t) block[4 * i] << 24) | ((uint32_t) block[4 * i + 1] << 16) |
           ((uint32_t) block[4 * i + 2] << 8) | block[4 * i + 3];
  for (i = 16; i < 80; i++)
    w[i] = rol32 (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4];
  for (i = 0; i < 80; i++)
    {
      uint32_t f, k, t;

      if (i < 20)
        {
          f = (b & c) | (~b & d);
          k = 0x5A827999;
        }
      else if (i < 40)
        {
          f = b ^ c ^ d;
          k = 0x6ED9EBA1;
        }
      else if (i < 60)
        {
          f = (b & c) | (b & d) | (c & d);
          k = 0x8F1BBCDC;
        }
      else
        {
          f = b ^ c ^ d;
          k = 0xCA62C1D6;
        }
      t = rol32 (a, 5) + f + e + k + w[i];
      e = d; d = c; c = rol32 (b, 30); b = a; a = t;
    }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

void
ws_accept_key (const char *key, size_t key_len, char out[29])
{
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  uint8_t msg[128 + 64];
  uint8_t digest[20];
  uint32_t h[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0 };
  size_t n, padded, i;
  uint64_t bits;

  if (key_len > 64)
    key_len = 64;
  memcpy (msg, key, key_len);
  memcpy (msg + key_len, guid, sizeof guid - 1);
  n = key_len + sizeof guid - 1;
  padded = ((n + 8) / 64 + 1) * 64;
  memset (msg + n, 0, padded - n);
  msg[n] = 0x80;
  bits = (uint64_t) n * 8;
  for (i = 0; i < 8; i++)
    msg[padded - 1 - i] = (uint8_t) (bits >> (8 * i));
  for (i = 0; i < padded; i += 64)
    sha1_block (h, msg + i);
  for (i = 0; i < 5; i++)
    {
      digest[4 * i] = (uint8_t) (h[i] >> 24);
      digest[4 * i + 1] = (uint8_t) (h[i] >> 16);
      digest[4 * i + 2] = (uint8_t) (h[i] >> 8);
      digest[4 * i + 3] = (uint8_t) h[i];
    }
  bench_base64 (digest, 20, out);
}

bool
bslice_eq (BSlice s, const char *lit)
{
  size_t n = strlen (lit);

  return s.n == n && memcmp (s.p, lit, n) == 0;
}

const char *
bj_skip_ws (const char *p, const char *end)
{
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
    p++;
  return p;
}

static const char *
skip_string (const char *p, const char *end)
{
  /* p at the opening quote */
  p++;
  while (p < end)
    {
      const char *q = memchr (p, '"', (size_t) (end - p));
      const char *b;

      if (q == NULL)
        return NULL;
      /* count the backslashes right before the quote */
      b = q;
      while (b > p && b[-1] == '\\')
        b--;
      if (((q - b) & 1) == 0)
        return q + 1;
      p = q + 1;
    }
  return NULL;
}

const char *
bj_skip_value (const char *p, const char *end)
{
  int depth = 0;

  p = bj_skip_ws (p, end);
  if (p >= end)
    return NULL;
  if (*p == '"')
    return skip_string (p, end);
  if (*p != '{' && *p != '[')
    {
      /* number or literal */
      while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' &&
             *p != '\n' && *p != '\r' && *p != '\t')
        p++;
      return p;
    }
  while (p < end)
    {
      switch (*p)
        {
        case '"':
          p = skip_string (p, end);
          if (p == NULL)
            return NULL;
          continue;
        case '{':
        case '[':
          depth++;
          break;
        case '}':
        case ']':
          depth--;
          if (depth == 0)
            return p + 1;
          break;
        default:
          break;
        }
      p++;
    }
  return NULL;
}

bool
bj_obj_begin (BjIter *it, const char *p, const char *end)
{
  p = bj_skip_ws (p, end);
  if (p >= end || *p != '{')
    return false;
  it->p = p + 1;
  it->end = end;
  return true;
}

bool
bj_obj_next (BjIter *it, BSlice *key, const char **val)
{
  const char *p = bj_skip_ws (it->p, it->end);
  const char *q;

  if (p >= it->end || *p == '}')
    return false;
  if (*p == ',')
    p = bj_skip_ws (p + 1, it->end);
  if (p >= it->end || *p != '"')
    return false;
  q = skip_string (p, it->end);
  if (q == NULL)
    return false;
  key->p = p + 1;
  key->n = (size_t) (q - p - 2);
  p = bj_skip_ws (q, it->end);
  if (p >= it->end || *p != ':')
    return false;
  p = bj_skip_ws (p + 1, it->end);
  *val = p;
  q = bj_skip_value (p, it->end);
  if (q == NULL)
    return false;
  it->p = q;
  return true;
}

bool
bj_get_u64 (const char *val, const char *end, uint64_t *out)
{
  uint64_t v = 0;
  const char *p = bj_skip_ws (val, end);
  bool any = false;

  /* protobuf's JSON mapping may quote 64-bit integers */
  if (p < end && *p == '"')
    p++;
  while (p < end && *p >= '0' && *p <= '9')
    {
      v = v * 10 + (uint64_t) (*p - '0');
      p++;
      any = true;
    }
  *out = v;
  return any;
}

bool
bj_get_bool (const char *val, const char *end, bool *out)
{
  const char *p = bj_skip_ws (val, end);

  if (end - p >= 4 && memcmp (p, "true", 4) == 0)
    {
      *out = true;
      return true;
    }
  if (end - p >= 5 && memcmp (p, "false", 5) == 0)
    {
      *out = false;
      return true;
    }
  return false;
}

bool
bj_get_str (const char *val, const char *end, BSlice *out)
{
  const char *p = bj_skip_ws (val, end);
  const char *q;

  if (p >= end || *p != '"')
    return false;
  q = skip_string (p, end);
  if (q == NULL)
    return false;
  out->p = p + 1;
  out->n = (size_t) (q - p - 2);
  return true;
}

const char *
bj_find (const char *obj, const char *end, const char *key)
{
  BjIter it;
  BSlice k;
  const char *v;

  if (!bj_obj_begin (&it, obj, end))
    return NULL;
  while (bj_obj_next (&it, &k, &v))
    if (bslice_eq (k, key))
      return v;
  return NULL;
}

static int
hexval (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int
bj_unescape (BSlice raw, char *out, size_t out_size)
{
  size_t i, o = 0;

  for (i = 0; i < raw.n; i++)
    {
      char c = raw.p[i];

      if (o + 1 >= out_size)
        return -1;
      if (c != '\\')
        {
          out[o++] = c;
          continue;
        }
      if (++i >= raw.n)
        return -1;
      switch (raw.p[i])
        {
        case '"': out[o++] = '"'; break;
        case '\\': out[o++] = '\\'; break;
        case '/': out[o++] = '/'; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u':
          {
            int v = 0, k;

            if (i + 4 >= raw.n)
              return -1;
            for (k = 1; k <= 4; k++)
              {
                int h = hexval (raw.p[i + k]);

                if (h < 0)
                  return -1;
                v = v * 16 + h;
              }
            if (v >= 0x80)
              return -1;
            out[o++] = (char) v;
            i += 4;
          }
          break;
        default:
          return -1;
        }
    }
  out[o] = '\0';
  return (int) o;
}

size_t
bj_escape (const char *s, char *out, size_t out_size)
{
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;

  if (out_size < 3)
    return 0;
  out[o++] = '"';
  for (; *s != '\0'; s++)
    {
      unsigned char c = (unsigned char) *s;

      if (o + 7 >= out_size)
        return 0;
      if (c == '"' || c == '\\')
        {
          out[o++] = '\\';
          out[o++] = (char) c;
        }
      else if (c < 0x20)
        {
          out[o++] = '\\';
          out[o++] = 'u';
          out[o++] = '0';
          out[o++] = '0';
          out[o++] = hex[c >> 4];
          out[o++] = hex[c & 15];
        }
      else
        out[o++] = (char) c;
    }
  out[o++] = '"';
  out[o] = '\0';
  return o;
}

uint64_t
bench_now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

void
hist_init (BenchHist *h)
{
  memset (h, 0, sizeof *h);
  h->min = UINT64_MAX;
}

static unsigned
hist_index (uint64_t v)
{
  unsigned e;

  if (v < (1u << (HIST_SUB_BITS + 1)))
    return (unsigned) v;
  e = 63u - (unsigned) __builtin_clzll (v);
  /* v >> (e - SUB_BITS) is in [2^SUB, 2^(SUB+1)) */
  return ((e - HIST_SUB_BITS) << HIST_SUB_BITS) + (unsigned) (v >> (e - HIST_SUB_BITS));
}

static uint64_t
hist_upper (unsigned idx)
{
  unsigned e, m;

  if (idx < (1u << (HIST_SUB_BITS + 1)))
    return idx;
  e = (idx >> HIST_SUB_BITS) + HIST_SUB_BITS - 1;
  m = (idx & ((1u << HIST_SUB_BITS) - 1)) + (1u << HIST_SUB_BITS);
  return (((uint64_t) m + 1) << (e - HIST_SUB_BITS)) - 1;
}

void
hist_record (BenchHist *h, uint64_t value)
{
  unsigned idx = hist_index (value);

  if (idx >= HIST_BUCKETS)
    idx = HIST_BUCKETS - 1;
  h->counts[idx]++;
  h->total++;
  h->sum += (double) value;
  if (value > h->max)
    h->max = value;
  if (value < h->min)
    h->min = value;
}

void
hist_merge (BenchHist *into, const BenchHist *from)
{
  unsigned i;

  for (i = 0; i < HIST_BUCKETS; i++)
    into->counts[i] += from->counts[i];
  into->total += from->total;
  into->sum += from->sum;
  if (from->max > into->max)
    into->max = from->max;
  if (from->min < into->min)
    into->min = from->min;
}

uint64_t
hist_quantile (const BenchHist *h, double q)
{
  uint64_t rank, seen = 0;
  unsigned i;

  if (h->total == 0)
    return 0;
  rank = (uint64_t) (q * (double) h->total);
  if (rank >= h->total)
    rank = h->total - 1;
  for (i = 0; i < HIST_BUCKETS; i++)
    {
      seen += h->counts[i];
      if (seen > rank)
        {
          uint64_t up = hist_upper (i);

          return up < h->max ? up : h->max;
        }
    }
  return h->max;
}
