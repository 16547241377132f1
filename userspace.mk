# What the userspace programs' Makefiles (bow-restore/, bowctl/) share:
# C11, warnings are errors, Debian's build flags when given (CFLAGS,
# CPPFLAGS, LDFLAGS from the environment), SANITIZE=1 for ASan and UBSan.
CC ?= cc
AR ?= ar
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -Wall -Wextra -Werror -Wshadow -Wformat=2 $(CPPFLAGS)
ifeq ($(SANITIZE),1)
CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
BOW_VERSION ?= $(shell git -C .. describe --always --dirty 2>/dev/null || \
		 echo unknown)
PREFIX ?= /usr
DESTDIR ?=
