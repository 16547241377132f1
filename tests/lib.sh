# Shared test helpers (host side).  Every check prints one line,
# "ok - <what>" or "not ok - <what>"; tests/run-all.sh counts them.
# Lines starting with "# " are diagnostics.

ok()
{
	echo "ok - $*"
}

not_ok()
{
	echo "not ok - $*"
}

# check <description> <command...>: ok if the command succeeds.
check()
{
	desc=$1
	shift
	if "$@"; then
		ok "$desc"
	else
		not_ok "$desc"
	fi
}

# expect_eq <description> <expected> <actual>
expect_eq()
{
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1: expected '$2', got '$3'"
	fi
}

# quiet <command...>: run it with its output discarded (for check, whose
# own verdict line must not be redirected with the command's output).
quiet()
{
	"$@" > /dev/null 2>&1
}
