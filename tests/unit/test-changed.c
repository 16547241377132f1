// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of bowctl changed (bowctl/changed.c) against scripted
 * replies of the target's "changed" message: ranges joined across
 * replies, plain and JSON output, and each malformed reply refused with
 * its message and exit status.  The device-mapper calls are stand-ins
 * here; the VM suite (tests/vm/guest/changed.sh) runs the real ones.
 * Prints one "ok - " or "not ok - " line a check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../bowctl/bowctl.h"
#include "tap.h"

/* The stand-ins: the replies to send in turn, and the messages seen. */
static const char *const *replies;
static int replies_sent, reply_error;
static char asked[256];

int bow_dm_info(const char *name, struct bow_dm_info *info)
{
	memset(info, 0, sizeof(*info));
	info->mapping = strcmp(name, "none") ? BOW_MAP_BOW : BOW_MAP_NONE;
	return 0;
}

int bow_dm_message_reply(const char *name, const char *message,
			 int (*reply)(const char *text, void *arg), void *arg)
{
	(void)name;
	snprintf(asked + strlen(asked), sizeof(asked) - strlen(asked), "%s%s",
		 asked[0] ? "," : "", message);
	if (reply_error)
		return reply_error;
	if (!replies[replies_sent])
		return -EIO;
	return reply(replies[replies_sent++], arg);
}

void json_string(const char *s)
{
	printf("\"%s\"", s);
}

/* cmd_changed() over @script; its stdout and stderr into @out, @err. */
static int run(const char *const *script, bool json, char *out, char *err,
	       size_t len)
{
	FILE *o = tmpfile(), *e = tmpfile();
	int saved_out = dup(1), saved_err = dup(2), r;
	size_t n;

	replies = script;
	replies_sent = 0;
	asked[0] = 0;
	fflush(stdout);
	dup2(fileno(o), 1);
	dup2(fileno(e), 2);
	r = cmd_changed("c", json);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	rewind(o);
	n = fread(out, 1, len - 1, o);
	out[n] = 0;
	rewind(e);
	n = fread(err, 1, len - 1, e);
	err[n] = 0;
	fclose(o);
	fclose(e);
	return r;
}

static void expect(const char *what, const char *const *script, bool json,
		   int status, const char *out, const char *err,
		   const char *messages)
{
	char got_out[4096], got_err[4096];
	int r = run(script, json, got_out, got_err, sizeof(got_out));

	verdict(r == status && !strcmp(got_out, out) &&
		!strcmp(got_err, err) && !strcmp(asked, messages),
		"%s", what);
	if (r != status || strcmp(got_out, out) || strcmp(got_err, err) ||
	    strcmp(asked, messages))
		printf("# exit %d, stdout '%s', stderr '%s', asked '%s'\n", r,
		       got_out, got_err, asked);
}

int main(void)
{
	static const char *const one[] = { "0 8\n16 8\n32 16\nend\n", NULL };
	static const char *const three[] = {
		"8 8\n56 8\nnext 64\n", "64 8\n80 8\nnext 88\n", "88 8\nend\n",
		NULL,
	};
	static const char *const none[] = { "end\n", NULL };
	static const char *const zeros[] = { "008 08\n032 8\n40 8\nend\n",
					     NULL };

	expect("one reply, plain", one, false, 0, "0 8\n16 8\n32 16\n", "",
	       "changed 0");
	expect("ranges that touch across replies are joined", three, false, 0,
	       "8 8\n56 16\n80 16\n", "", "changed 0,changed 64,changed 88");
	expect("JSON", three, true, 0,
	       "{\"name\": \"c\", \"sector_size\": 512, \"ranges\": [\n"
	       "    [8, 8],\n    [56, 16],\n    [80, 16]\n  ]}\n", "",
	       "changed 0,changed 64,changed 88");
	expect("leading zeros read, not printed", zeros, false, 0,
	       "8 8\n32 16\n", "", "changed 0");
	expect("nothing changed, plain", none, false, 0, "", "", "changed 0");
	expect("nothing changed, JSON", none, true, 0,
	       "{\"name\": \"c\", \"sector_size\": 512, \"ranges\": []}\n", "",
	       "changed 0");

	/* What the target never sends: refused, exit 3, the line named. */
	static const struct {
		const char *reply, *err;
	} bad[] = {
		{ "0 8\n", "'': expected 'next <sector>' or 'end' last" },
		{ "", "'': expected 'next <sector>' or 'end' last" },
		{ "end\n0 8\n", "'0 8': expected nothing after its last line" },
		{ "next 0\n", "'next 0': expected 'next <sector>' past the "
		  "sector asked" },
		{ "next 9x\n", "'next 9x': expected 'next <sector>' past the "
		  "sector asked" },
		{ "-8 8\nend\n", "'-8 8': expected '<start> <sectors>' after "
		  "the range before" },
		{ "8 0\nend\n", "'8 0': expected '<start> <sectors>' after "
		  "the range before" },
		{ "8\nend\n", "'8': expected '<start> <sectors>' after the "
		  "range before" },
		{ "8 8 8\nend\n", "'8 8 8': expected '<start> <sectors>' "
		  "after the range before" },
		{ "16 8\n8 8\nend\n", "'8 8': expected '<start> <sectors>' "
		  "after the range before" },
		{ "16 8\n20 8\nend\n", "'20 8': expected '<start> <sectors>' "
		  "after the range before" },
		{ "18446744073709551615 1\nend\n", "'18446744073709551615 1': "
		  "expected '<start> <sectors>' after the range before" },
		{ "99999999999999999999 1\nend\n", "'99999999999999999999 1': "
		  "expected '<start> <sectors>' after the range before" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		const char *const script[] = { bad[i].reply, NULL };
		char want[512], what[64];

		snprintf(want, sizeof(want), "bowctl: c: the reply to "
			 "'changed 0' has %s\n", bad[i].err);
		snprintf(what, sizeof(what), "malformed reply %zu refused", i);
		expect(what, script, false, EXIT_SYSTEM, "", want,
		       "changed 0");
	}

	/* A reply going backwards would never end. */
	static const char *const back[] = { "next 64\n", "next 32\n", NULL };
	expect("a 'next' before the sector asked", back, false, EXIT_SYSTEM,
	       "", "bowctl: c: the reply to 'changed 64' has 'next 32': "
	       "expected 'next <sector>' past the sector asked\n",
	       "changed 0,changed 64");

	reply_error = -EINVAL;
	expect("no checkpoint: refused", one, true, EXIT_REFUSED, "",
	       "bowctl: c: no checkpoint: the changed ranges are kept in "
	       "state 1 only\n", "changed 0");
	reply_error = -ENXIO;
	expect("an ioctl error", one, false, EXIT_SYSTEM, "",
	       "bowctl: c: changed 0: No such device or address\n",
	       "changed 0");
	return failures ? 1 : 0;
}
