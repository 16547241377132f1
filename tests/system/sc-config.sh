# Scenario config, sourced by tests/system/run.sh.
# Configuration errors: a bowtab line with a bad option is left alone
# (the generator and bowctl name the file, line and field); a state
# directory on the protected file system is refused when arming.
#
# Kernels: the first kernel.
# Boots: 1.

sc_config()
{
	k=$1
	sc_new config "$k" "state=/data/bow"
	root_put "$sc_root" /etc/bowtab "data PARTLABEL=data state=/data/bow
	spare /dev/vdc state=/var/lib/bow,retries=x
	"
	sc_boot "bowctl start data"
	expect_eq "$sc: boot 1: bowctl start refuses, status 4" 4 \
		"$(root_get "$sc_root" /var/lib/bowtest/actions.rc)"
	expect_eq "$sc: boot 1: ... and says why" 1 \
		"$(root_get "$sc_root" /var/lib/bowtest/actions.out | grep -c '^bowctl: data: refusing to arm: state directory /data/bow is on the protected file system (/data); a rollback would undo the state that asks for it (bowtab line 1)$')"
	expect_eq "$sc: boot 1: bowctl status exits 2 for the bad line" 2 \
		"$(root_get "$sc_root" /var/lib/bowtest/status.rc)"
	msg="/etc/bowtab:2: bad retries 'x': expected a number of boot attempts, 1 to 100; this device is left alone"
	expect_eq "$sc: boot 1: ... naming file, line and field" "$msg" \
		"$(root_get "$sc_root" /var/lib/bowtest/status.err)"
	expect_eq "$sc: boot 1: the generator says the same in the journal" 1 \
		"$(root_get "$sc_root" /var/lib/bowtest/journal | grep -c "bow-generator: $msg")"
	expect_eq "$sc: boot 1: the generator says the state directory is on the device" 1 \
		"$(root_get "$sc_root" /var/lib/bowtest/journal | grep -c 'bow-generator: /etc/bowtab line 1: state directory /data/bow is on the protected file system (/data): data is never checkpointed$')"
	expect_status "the good line is still served, unarmed" \
		'd["name"], d["lifecycle"], d["mapping"]' "data idle linear"
	expect_data pre
}
