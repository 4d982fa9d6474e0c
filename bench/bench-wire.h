/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The few pieces of WebSocket framing and JSON scanning the benchmark tools share.
 * Plain C on purpose: the load generator must cost as little per frame as possible, and
 * it only needs to read the handful of fields the benchmark uses. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* WebSocket opcodes (RFC 6455). */
enum {
  WS_OP_CONT = 0x0,
  WS_OP_TEXT = 0x1,
  WS_OP_BINARY = 0x2,
  WS_OP_CLOSE = 0x8,
  WS_OP_PING = 0x9,
  WS_OP_PONG = 0xA,
};

typedef struct {
  bool     fin;
  uint8_t  opcode;
  bool     masked;
  uint8_t  mask[4];
  uint64_t payload_len;
  size_t   header_len;
} WsFrame;

/* Parses the header of the frame at @buf. Returns 1 when the whole frame (header and
 * payload) is in @len bytes, 0 when more bytes are needed, -1 on a malformed header. */
int    ws_parse_frame   (const uint8_t *buf, size_t len, WsFrame *frame);
/* Writes a frame header into @out (at least 14 bytes). Returns its length. When @mask
 * is non-NULL the frame is marked masked and the 4 key bytes follow the length. */
size_t ws_write_header  (uint8_t *out, uint8_t opcode, uint64_t payload_len,
                         const uint8_t *mask);
/* XORs @len bytes with the 4-byte key, starting at key offset 0. */
void   ws_mask          (uint8_t *data, size_t len, const uint8_t mask[4]);

/* Base64 of @len bytes into @out (4 * ceil(len / 3) + 1 bytes, NUL-terminated). */
void   bench_base64     (const uint8_t *in, size_t len, char *out);
/* The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (29 bytes with the NUL). */
void   ws_accept_key    (const char *key, size_t key_len, char out[29]);

/* A read-only view of bytes. */
typedef struct {
  const char *p;
  size_t      n;
} BSlice;

bool bslice_eq (BSlice s, const char *lit);

/* JSON scanning: enough to walk an object's members and read strings and integers,
 * without building a tree. Every function takes the end of the buffer and never reads
 * past it. */
typedef struct {
  const char *p;
  const char *end;
} BjIter;

const char *bj_skip_ws    (const char *p, const char *end);
/* Returns a pointer just after the value at @p, or NULL if it is malformed. */
const char *bj_skip_value (const char *p, const char *end);
/* @p must point at (whitespace before) '{'. */
bool        bj_obj_begin  (BjIter *it, const char *p, const char *end);
/* Yields the next member; @val points at its value. FALSE at the end or on an error. */
bool        bj_obj_next   (BjIter *it, BSlice *key, const char **val);
bool        bj_get_u64    (const char *val, const char *end, uint64_t *out);
bool        bj_get_bool   (const char *val, const char *end, bool *out);
/* The raw bytes between the quotes: escapes are left as they are. */
bool        bj_get_str    (const char *val, const char *end, BSlice *out);
/* Finds the member @key of the object at @obj; NULL if absent. */
const char *bj_find       (const char *obj, const char *end, const char *key);
/* Copies a JSON string with its escapes decoded (\uXXXX only for ASCII), NUL-terminated.
 * Returns the length, or -1 if it does not fit or uses what is not supported. */
int         bj_unescape   (BSlice raw, char *out, size_t out_size);
/* Writes @s to @out as a JSON string with quotes and a NUL after them; returns the bytes
 * written without the NUL, or 0 when @out_size is too small. */
size_t      bj_escape     (const char *s, char *out, size_t out_size);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns (void);

/* A log-linear latency histogram in nanoseconds: 64 sub-buckets per power of two, so
 * every reported value is within 1/64 (1.6 %) of the recorded one. */
#define HIST_SUB_BITS 6
#define HIST_BUCKETS ((64 - HIST_SUB_BITS) * (1 << HIST_SUB_BITS) + (1 << HIST_SUB_BITS))

typedef struct {
  uint64_t counts[HIST_BUCKETS];
  uint64_t total;
  uint64_t max;
  uint64_t min;
  double   sum;
} BenchHist;

void     hist_init       (BenchHist *h);
void     hist_record     (BenchHist *h, uint64_t value);
void     hist_merge      (BenchHist *into, const BenchHist *from);
/* The value at quantile @q (0..1): the upper edge of the bucket holding it. */
uint64_t hist_quantile   (const BenchHist *h, double q);
