/*
 * The MIME walk: a message (the spooled bytes, CRLF lines) parsed with GMime 3
 * into a flat list of what it carries, for the attachment policy and the logs.
 *
 * Every leaf part becomes one struct mime_part with its MIME path (IMAP
 * section numbers: "1", "2.1"; the body of an attached message/rfc822 at "3"
 * is "3.1", or "3.1", "3.2"... when it is a multipart), its declared content
 * type and disposition, its file name decoded by GMime (RFC 2047 words,
 * RFC 2231 charsets and continuations), the size of its decoded content and
 * the true type libmagic finds at its start (see "True types" below). An
 * attached message/rfc822 part is listed too (kind MIME_PART_MESSAGE), then
 * walked. A part that is an archive (zip, tar, gzip'd tar, 7z, rar, cab, iso,
 * cpio, bzip2, xz... recognised by true type or by name) is listed with
 * libarchive: each entry follows it as a MIME_PART_ARCHIVE_ENTRY with depth
 * 1, entries of an archive inside it with depth 2, and so on.
 *
 * Nothing is silently dropped: where a limit stops the walk, the part where it
 * stopped and the walk itself carry a MIME_WALK_LIMIT_* flag, and problems
 * GMime or libarchive noticed are flags as well. Malformed input never makes
 * the walk fail; only running out of memory or an unreadable fd does.
 *
 * True types are sniffed only where the attachment policy can use them: on
 * every archive entry and on every MIME part except an unnamed, inline text
 * part (declared type text/anything: a message body, shown as text, never
 * saved or run as a file; its true_type stays NULL unless
 * limits.sniff_text_bodies). libmagic gets the
 * first MIME_WALK_SNIFF_BYTES of the decoded content: every type of the
 * built-in block list and of the archive list is told by its first bytes
 * (ELF, Mach-O, shortcuts, scripts' "#!", zip, gzip, 7z, rar, cab, xz, bzip2
 * at offset 0; tar's "ustar" at 257) with two exceptions, which get up to
 * MIME_WALK_SNIFF_DEEP_BYTES: content starting with "MZ" (a PE's own header
 * sits at the offset stored at 0x3c, anywhere in the file) and OLE compound
 * files (an MSI is told from a Word file by the directory, anywhere in the
 * file). Decoded content is streamed: only parts listed as archives are held
 * in memory whole.
 *
 * Threads: a walker is used by one thread at a time (it owns a magic_t);
 * give each scanner thread its own. Create and free walkers from one thread
 * (they count g_mime_init()/g_mime_shutdown() calls), and free every walk
 * before the last walker.
 */
#ifndef AIRLOCK_MIME_WALK_H
#define AIRLOCK_MIME_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gmime/gmime.h>

/* Bytes of decoded content given to libmagic to find the true type. */
#define MIME_WALK_SNIFF_BYTES 1024
/* The same for content starting with "MZ" or an OLE compound file's signature. */
#define MIME_WALK_SNIFF_DEEP_BYTES (1024u * 1024u)
/* Longest MIME path kept ("1.2.3..."); deeper paths are a depth limit. */
#define MIME_PATH_MAX 128

/* Flags, on a part and (or-ed together) on the whole walk. */
enum mime_walk_flag {
	/* GMime reported a structural problem: truncated message, multipart
	 * without boundary or children, invalid header name or content type */
	MIME_WALK_MALFORMED = 1u << 0,
	/* a Content-* header or parameter given twice with different values:
	 * two readers may disagree on the name or the type */
	MIME_WALK_AMBIGUOUS = 1u << 1,
	/* an archive could not be read to its end (corrupt, unsupported) */
	MIME_WALK_ARCHIVE_ERROR = 1u << 2,
	/* an archive entry (or the archive's directory) is encrypted */
	MIME_WALK_ENCRYPTED = 1u << 3,
	/* limits: the walk stopped looking here */
	MIME_WALK_LIMIT_PARTS = 1u << 8,      /* more than max_parts MIME parts */
	MIME_WALK_LIMIT_MIME_DEPTH = 1u << 9, /* multiparts nested deeper than max_mime_depth */
	MIME_WALK_LIMIT_ARCHIVE_DEPTH = 1u
					<< 10, /* archives nested deeper than max_archive_depth */
	MIME_WALK_LIMIT_ARCHIVE_ENTRIES = 1u << 11, /* more than max_archive_entries entries */
	MIME_WALK_LIMIT_ARCHIVE_BYTES = 1u << 12,   /* more than max_archive_bytes unpacked */
	MIME_WALK_LIMIT_MESSAGE_BYTES = 1u << 13,   /* message larger than max_message_bytes */
};

#define MIME_WALK_LIMITS                                                                           \
	(MIME_WALK_LIMIT_PARTS | MIME_WALK_LIMIT_MIME_DEPTH | MIME_WALK_LIMIT_ARCHIVE_DEPTH |      \
	 MIME_WALK_LIMIT_ARCHIVE_ENTRIES | MIME_WALK_LIMIT_ARCHIVE_BYTES |                         \
	 MIME_WALK_LIMIT_MESSAGE_BYTES)

struct mime_walk_limits {
	size_t max_message_bytes;     /* the input; default 64 MiB */
	unsigned max_parts;	      /* parts listed, entries not counted; default 1000 */
	unsigned max_mime_depth;      /* multipart/message nesting; default 32 */
	unsigned max_archive_depth;   /* archive in archive in ...; default 3 */
	unsigned max_archive_entries; /* entries of all archives of one message; default 2000 */
	uint64_t max_archive_bytes;   /* bytes unpacked from all archives of one message;
					 default 128 MiB */
	bool sniff_text_bodies;	      /* sniff unnamed inline text parts too (for
					 rules on their true type); default false */
	bool skip_sizes;	      /* do not decode parts to their end only to fill
					 size (the attachment policy and the rules use
					 no part size): size is then what the sniff and
					 the archive listing decoded; default false */
};

enum mime_part_kind {
	MIME_PART_LEAF = 0,	 /* a leaf MIME part */
	MIME_PART_MESSAGE,	 /* a message/rfc822 part; its body follows */
	MIME_PART_ARCHIVE_ENTRY, /* a file inside an archive */
};

struct mime_part {
	enum mime_part_kind kind;
	char path[MIME_PATH_MAX]; /* MIME path; for an entry, that of its MIME part */
	unsigned depth;		  /* 0 for MIME parts, archive nesting for entries */
	size_t parent;		  /* entries: index of the part or entry holding them;
				     SIZE_MAX for MIME parts */
	char *content_type;	  /* declared "type/subtype", lower case; NULL for entries */
	char *disposition;	  /* "attachment", "inline" (lower case) or NULL */
	char *filename;		  /* decoded UTF-8 name or NULL; entries: path inside
				     the archive */
	uint64_t size;		  /* decoded (entries: unpacked) bytes seen */
	char *true_type;	  /* libmagic MIME type, NULL if not sniffed */
	bool is_archive;	  /* listed with libarchive (entries follow) */
	unsigned flags;		  /* enum mime_walk_flag */
};

struct mime_walk {
	struct mime_part *parts; /* gets owned by the walk; nparts of them */
	size_t nparts;
	unsigned flags;		  /* all flags of all parts, plus message-level ones */
	unsigned parser_warnings; /* how many warnings GMime issued */
	uint64_t archive_bytes;	  /* unpacked bytes counted against the limit */
	unsigned archive_entries; /* entries counted against the limit */
	GMimeMessage *message;	  /* the parsed message; internal data, see below */
};

struct mime_walker;

/* Fills *limits with the defaults above. */
void mime_walk_limits_default(struct mime_walk_limits *limits);

/*
 * A walker with its own libmagic handle (default database) and a copy of
 * limits (NULL: defaults). Returns NULL if libmagic cannot load its database
 * (a start-time error for the caller to report) or on allocation failure.
 */
struct mime_walker *mime_walker_new(const struct mime_walk_limits *limits);
void mime_walker_free(struct mime_walker *walker);

/*
 * Walks the message in data[0..len). data is copied; the caller keeps it.
 * Returns a walk (free with mime_walk_free), or NULL only when memory runs
 * out. A message over max_message_bytes is not parsed: the walk is empty but
 * for the MIME_WALK_LIMIT_MESSAGE_BYTES flag.
 */
struct mime_walk *mime_walk_mem(struct mime_walker *walker, const void *data, size_t len);

/*
 * Same, reading fd from its current offset to its end (the caller positions it
 * past a spool envelope). fd is not closed. Returns NULL on a read error (with
 * errno) or when memory runs out.
 */
struct mime_walk *mime_walk_fd(struct mime_walker *walker, int fd);

/*
 * Same, on the octets [offset, offset + len) of the regular file open on fd,
 * without copying them: GMime reads them from a duplicate of fd that the walk
 * holds until mime_walk_free() (parts of walk->message are read from it, e.g.
 * by attach_policy_strip()), so the caller may close fd at once. The file
 * must not change while the walk lives. fd's file offset is moved. Returns
 * NULL when fd cannot be duplicated (errno) or memory runs out.
 */
struct mime_walk *mime_walk_fd_range(struct mime_walker *walker, int fd, uint64_t offset,
				     uint64_t len);

void mime_walk_free(struct mime_walk *walk);

/*
 * The GMime object at MIME path path ("1", "2.1") of msg, numbered as the
 * walk numbers parts, or NULL. When it sits in a multipart, *parent (if not
 * NULL) gets that multipart and *index its position; when it is the body of
 * a message, *parent gets NULL and *message (if not NULL) that message.
 * Internal data of msg.
 */
GMimeObject *mime_walk_find(GMimeMessage *msg, const char *path, GMimeMultipart **parent,
			    int *index, GMimeMessage **message);

/* "malformed", "limit-archive-depth", ... for one flag bit; "unknown" else. */
const char *mime_walk_flag_name(unsigned flag);

/*
 * Writes the names of the flags in flags, comma-separated, into out (size
 * outsz, always terminated; "none" when there are none). Returns out.
 */
const char *mime_walk_flags_text(unsigned flags, char *out, size_t outsz);

#endif
