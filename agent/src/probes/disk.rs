//! Disk usage per mount (statvfs over /proc/mounts) and bytes read/written per
//! block device (/proc/diskstats, 512-byte sectors).

use std::collections::HashMap;

/// Pseudo and image filesystems whose "usage" means nothing to a user.
const SKIPPED_FS: &[&str] = &[
    "proc",
    "sysfs",
    "tmpfs",
    "devtmpfs",
    "devpts",
    "cgroup",
    "cgroup2",
    "mqueue",
    "squashfs",
    "securityfs",
    "pstore",
    "debugfs",
    "tracefs",
    "bpf",
    "autofs",
    "hugetlbfs",
    "fusectl",
    "configfs",
    "binfmt_misc",
    "nsfs",
    "ramfs",
    "rpc_pipefs",
    "efivarfs",
    "shm",
];

/// Mount points worth reporting: one per device, the root always.
pub fn mountpoints(mounts: &str) -> Vec<String> {
    let mut seen_devices = Vec::new();
    let mut out = Vec::new();
    for line in mounts.lines() {
        let mut fields = line.split_whitespace();
        let (Some(device), Some(mountpoint), Some(fs)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if SKIPPED_FS.contains(&fs) || (mountpoint != "/" && !device.starts_with('/')) {
            continue;
        }
        if seen_devices.iter().any(|d| d == device) {
            continue;
        }
        seen_devices.push(device.to_string());
        // /proc/mounts escapes spaces as \040.
        out.push(mountpoint.replace("\\040", " "));
    }
    out
}

/// Used percentage as `df` shows it (reserved blocks count as unavailable).
pub fn usage_percent(mountpoint: &str) -> Option<f64> {
    let stat = nix::sys::statvfs::statvfs(mountpoint).ok()?;
    let used = stat.blocks().saturating_sub(stat.blocks_free()) as f64;
    let usable = used + stat.blocks_available() as f64;
    (usable > 0.0).then(|| used * 100.0 / usable)
}

/// device -> (bytes read, bytes written) since boot.
pub fn io_bytes(diskstats: &str) -> HashMap<String, (u64, u64)> {
    let mut out = HashMap::new();
    for line in diskstats.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 10 {
            continue;
        }
        let name = fields[2];
        if name.starts_with("loop") || name.starts_with("ram") {
            continue;
        }
        let sectors = |i: usize| fields[i].parse::<u64>().unwrap_or(0);
        out.insert(name.to_string(), (sectors(5) * 512, sectors(9) * 512));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_skip_pseudo_filesystems_and_duplicates() {
        let mounts = "overlay / overlay rw 0 0\nproc /proc proc rw 0 0\n/dev/sda1 /data ext4 rw 0 0\n/dev/sda1 /data/again ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n/dev/sdb1 /mnt/my\\040disk xfs rw 0 0\n";
        assert_eq!(mountpoints(mounts), vec!["/", "/data", "/mnt/my disk"]);
        assert!(usage_percent("/").is_some());
    }

    #[test]
    fn diskstats_give_bytes_per_device() {
        let stats = "   8       0 sda 100 0 2048 0 50 0 4096 0 0 0 0\n   7       0 loop0 1 0 8 0 0 0 0 0 0 0 0\n";
        let io = io_bytes(stats);
        assert_eq!(io.get("sda"), Some(&(2048 * 512, 4096 * 512)));
        assert!(!io.contains_key("loop0"));
    }
}
