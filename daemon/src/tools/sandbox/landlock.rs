//! The Landlock ruleset, applied by the helper to itself right before it execs the command
//! (a single-threaded process, so `restrict_self` covers everything that follows).

use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, path_beneath_rules,
};

/// Why the ruleset could not be put in force.
#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    /// The kernel refused a step.
    #[error("landlock: {0}")]
    Ruleset(#[from] landlock::RulesetError),
    /// The kernel has no (enabled) Landlock.
    #[error(
        "landlock is not enforced by this kernel (it needs Linux 5.13 or later with \
         landlock in the `lsm=` list)"
    )]
    NotEnforced,
}

/// The newest ABI this build knows; older kernels get what they support (best effort), but
/// a kernel without any Landlock is an error, never a silent no-op.
const ABI_MAX: ABI = ABI::V10;

/// Restricts the calling process (and whatever it execs) to writing in `writable`, reading
/// everywhere, and — unless `network` — no TCP connect or bind.
pub fn restrict_self(writable: &[PathBuf], network: bool) -> Result<(), LandlockError> {
    let all = AccessFs::from_all(ABI_MAX);
    let read = AccessFs::from_read(ABI_MAX);
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)?
        .scope(Scope::from_all(ABI_MAX))?;
    if !network {
        ruleset = ruleset.handle_access(AccessNet::from_all(ABI_MAX))?;
    }
    // Devices: `> /dev/null` and friends must work; creating device nodes must not.
    let dev = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::ReadDir | AccessFs::IoctlDev;
    let status = ruleset
        .create()?
        .add_rules(path_beneath_rules(["/"], read))?
        .add_rules(path_beneath_rules(["/dev"], dev))?
        .add_rules(path_beneath_rules(writable, all))?
        .restrict_self()?;
    match status.ruleset {
        RulesetStatus::NotEnforced => Err(LandlockError::NotEnforced),
        RulesetStatus::FullyEnforced | RulesetStatus::PartiallyEnforced => Ok(()),
    }
}
