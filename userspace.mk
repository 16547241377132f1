# What the userspace programs' Makefiles (bow-restore/, bowctl/) share:
# C11, warnings are errors, Debian's build flags when given (CFLAGS,
# CPPFLAGS, LDFLAGS from the environment), SANITIZE=1 for ASan and UBSan.
CC ?= cc
AR ?= ar
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -Wall -Wextra -Werror -Wshadow -Wformat=2 $(CPPFLAGS)
# Each object's headers, as the compiler saw them (foo.d beside foo.o):
# a change of any header, ../dm-bow-format.h included, rebuilds what
# includes it.  -MP keeps a removed header from breaking the build.
CFLAGS += -MMD -MP
ifeq ($(SANITIZE),1)
CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
BOW_VERSION ?= $(shell git -C .. describe --always --dirty 2>/dev/null || \
		 echo unknown)
PREFIX ?= /usr
DESTDIR ?=
