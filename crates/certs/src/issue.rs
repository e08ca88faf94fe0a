//! Creating identities: decide what exists, generate the missing keys in parallel, sign, and
//! write each identity atomically. Existing material is never overwritten without `force`, and a
//! run that fails (or is interrupted) part-way is undone as a whole: the tree is left as it was.

use std::path::{Path, PathBuf};

use rcgen::{Issuer, KeyPair};
use time::OffsetDateTime;

use crate::check::DEFAULT_WARN_DAYS;
use crate::error::{CertsError, Result};
use crate::fsio::{self, NewFile, Transaction, CERT_MODE, KEY_MODE};
use crate::inspect;
use crate::keygen::generate_keys;
use crate::layout::{regenerate_hint, Identity, IdentityPaths, Layout};
use crate::names::{plugin_sans, validate_plugin_name};
use crate::profile::{self, Validity, MAX_DAYS};
use crate::request::{Event, Expiry, Options, Outcome, Progress, Request, Summary};

/// Creates the CA, the gateway identity and the named plugin identities under `dir`, with no
/// progress output. The quickest way for tests: `issue_all(dir, &["p"], &Options::ecdsa())`.
pub fn issue_all<S: AsRef<str>>(
    dir: impl AsRef<Path>,
    plugins: &[S],
    options: &Options,
) -> Result<Summary> {
    issue(dir.as_ref(), &Request::all(plugins), options, &())
}

/// Whether the files of an identity are there.
enum State {
    Missing,
    Complete,
    Incomplete { present: PathBuf, missing: PathBuf },
}

fn state(paths: &IdentityPaths) -> State {
    match (paths.key.exists(), paths.cert.exists()) {
        (true, true) => State::Complete,
        (false, false) => State::Missing,
        (true, false) => State::Incomplete {
            present: paths.key.clone(),
            missing: paths.cert.clone(),
        },
        (false, true) => State::Incomplete {
            present: paths.cert.clone(),
            missing: paths.key.clone(),
        },
    }
}

/// What to do with one identity.
struct Step {
    identity: Identity,
    paths: IdentityPaths,
    /// `Some(outcome)` when a new key and certificate are made.
    generate: Option<Outcome>,
}

/// Everything decided before a key is generated or a file written, so a refusal (bad name,
/// incomplete identity, unreadable CA, unwritable directory) leaves the directory as it was (only
/// the leftovers of killed runs may have been cleaned up, see `leftovers::sweep`).
struct Plan {
    layout: Layout,
    ca_paths: IdentityPaths,
    /// `Some(outcome)` when a new CA is made; otherwise `existing_ca` holds the loaded one.
    ca_generate: Option<Outcome>,
    existing_ca: Option<LoadedCa>,
    leaves: Vec<Step>,
}

/// Does everything `request` asks for; see the crate docs for the rules.
pub fn issue(
    dir: &Path,
    request: &Request,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Summary> {
    // 1. Decide, before generating or writing anything (this also checks that every directory
    //    to write accepts files, and cleans up after runs that were killed).
    let mut plan = plan(dir, request, options, progress)?;
    // The run's writes, as one transaction: a failure undoes everything this run wrote, and an
    // interrupt (from key generation on) stops it writing at all.
    let tx = Transaction::new();
    // 2. Generate every key needed, in parallel.
    let keys = generate(&plan, options, progress)?;
    // 3. Write.
    let mut events = Vec::new();
    let written = write(&mut plan, keys, request, options, &tx, &mut events);
    match written.and_then(|outcomes| tx.check_not_interrupted().map(|()| outcomes)) {
        Ok(outcomes) => {
            let problems = tx.commit();
            for event in &events {
                event.send(progress);
            }
            for message in problems {
                progress.event(&Event::Warning { message: &message });
            }
            if plan.ca_generate == Some(Outcome::Replaced) {
                warn_stale_leaves(&plan.layout, &outcomes, progress);
            }
            Ok(Summary {
                layout: plan.layout,
                outcomes,
            })
        }
        Err(err) => {
            let replace = matches!(err, CertsError::Replace { .. });
            let (err, undone) = tx.rollback(err);
            // What did not happen is not reported; what was found (kept identities, warnings) is.
            for event in events.iter().filter(|e| !e.is_write()) {
                event.send(progress);
            }
            if !replace && (undone.restored > 0 || undone.removed > 0) {
                progress.event(&Event::Warning {
                    message: &format!("the run failed and was undone: {}", undone.summary()),
                });
            }
            for message in &undone.failures {
                progress.event(&Event::Warning { message });
            }
            Err(err)
        }
    }
}

/// A progress event of the write phase, sent once the run is committed (a `Written` line for
/// an identity that a later failure takes back would be false).
enum Deferred {
    Written(Identity, IdentityPaths, Outcome),
    Completed(PathBuf),
    Exists(Identity, IdentityPaths, String, Option<Expiry>),
    Warning(String),
}

impl Deferred {
    /// Reports a file written (dropped when the run is undone).
    fn is_write(&self) -> bool {
        matches!(self, Deferred::Written(..) | Deferred::Completed(_))
    }

    fn send(&self, progress: &dyn Progress) {
        progress.event(&match self {
            Deferred::Written(identity, paths, outcome) => Event::Written {
                identity,
                paths,
                outcome: *outcome,
            },
            Deferred::Completed(path) => Event::Completed { path },
            Deferred::Exists(identity, paths, hint, expiry) => Event::Exists {
                identity,
                paths,
                hint,
                expiry: *expiry,
            },
            Deferred::Warning(message) => Event::Warning { message },
        });
    }
}

/// Phase 3: the CA (reused, or signed and written), then every leaf. Returns the outcomes.
fn write(
    plan: &mut Plan,
    keys: Vec<KeyPair>,
    request: &Request,
    options: &Options,
    tx: &Transaction,
    events: &mut Vec<Deferred>,
) -> Result<Vec<(Identity, Outcome)>> {
    let mut keys = keys.into_iter();
    let validity = Validity::new(options.not_before, options.days);
    let mut outcomes = Vec::new();
    let ca_key = plan.ca_generate.and_then(|_| keys.next());
    let existing_ca = plan.existing_ca.take();
    let ca = write_ca(
        plan,
        existing_ca,
        request,
        validity,
        ca_key,
        tx,
        &mut outcomes,
        events,
    )?;
    let ca_der =
        inspect::cert_der_from_pem(ca.pem.as_bytes()).map_err(|reason| CertsError::Parse {
            path: plan.ca_paths.cert.clone(),
            reason,
        })?;
    let ca_cert = inspect::parse(&ca_der).map_err(|reason| CertsError::Parse {
        path: plan.ca_paths.cert.clone(),
        reason,
    })?;
    warn_if_leaves_outlive_ca(plan, &ca_cert, validity, options.days, events);
    let root = plan.layout.root();
    for step in &plan.leaves {
        let Some(outcome) = step.generate else {
            keep_existing(step, &ca_cert, ca.pem.as_bytes(), root, tx, events)?;
            outcomes.push((step.identity.clone(), Outcome::Existing));
            continue;
        };
        let Some(key) = keys.next() else {
            return Err(CertsError::Crypto {
                what: format!("preparing the {}", step.identity),
                reason: "internal error: no key".into(),
            });
        };
        if write_leaf(step, outcome, key, &ca, validity, options, tx)? {
            outcomes.push((step.identity.clone(), outcome));
            events.push(Deferred::Written(
                step.identity.clone(),
                step.paths.clone(),
                outcome,
            ));
        }
    }
    Ok(outcomes)
}

/// Whether a certificate needs renewing soon (or has expired), for the "skipping" line.
fn expiry_of(cert: &x509_parser::certificate::X509Certificate<'_>) -> Option<Expiry> {
    Expiry::of(
        cert.validity().not_after.to_datetime(),
        OffsetDateTime::now_utc(),
        DEFAULT_WARN_DAYS,
    )
}

/// Phase 1: checks the request, and decides for the CA and every leaf whether it is made,
/// replaced or kept. Refuses an incomplete identity unless `force` allows replacing it.
fn plan(dir: &Path, request: &Request, options: &Options, progress: &dyn Progress) -> Result<Plan> {
    if options.days == 0 || options.days > MAX_DAYS {
        return Err(CertsError::InvalidDays { days: options.days });
    }
    let mut plugins: Vec<&str> = Vec::new();
    for name in &request.plugins {
        validate_plugin_name(name)?;
        if !plugins.contains(&name.as_str()) {
            plugins.push(name);
        }
    }
    let layout = Layout::new(dir);
    // Before the files are looked at: a run killed between moving a file aside and placing its
    // replacement left it under a backup name, which this puts back.
    for message in crate::leftovers::sweep(&layout) {
        progress.event(&Event::Warning { message: &message });
    }
    let root = layout.root();
    let ca_paths = layout.paths(&Identity::Ca);
    let replace_ca = request.ca && options.force;
    let ca_generate = match state(&ca_paths) {
        State::Missing => Some(Outcome::Created),
        State::Complete if replace_ca => Some(Outcome::Replaced),
        State::Complete => None,
        State::Incomplete { .. } if replace_ca => Some(Outcome::Replaced),
        State::Incomplete { present, missing } => {
            return Err(incomplete(&Identity::Ca, &ca_paths, present, missing, root))
        }
    };
    let existing_ca = match ca_generate {
        None => Some(load_ca(&ca_paths)?),
        Some(_) => None,
    };
    let mut identities: Vec<Identity> = Vec::new();
    if request.gateway {
        identities.push(Identity::Gateway);
    }
    identities.extend(plugins.iter().map(|p| Identity::Plugin(p.to_string())));
    let mut leaves = Vec::with_capacity(identities.len());
    for identity in identities {
        let paths = layout.paths(&identity);
        let generate = match state(&paths) {
            State::Missing => Some(Outcome::Created),
            State::Complete | State::Incomplete { .. } if options.force => Some(Outcome::Replaced),
            State::Complete => None,
            State::Incomplete { present, missing } => {
                return Err(incomplete(&identity, &paths, present, missing, root))
            }
        };
        leaves.push(Step {
            identity,
            paths,
            generate,
        });
    }
    // Every directory the run will write must accept files: refuse now, not after replacing
    // the CA (a read-only plugin directory found last would leave a mixed tree).
    let mut dirs: Vec<&Path> = Vec::new();
    if ca_generate.is_some() {
        dirs.push(&ca_paths.dir);
    }
    for step in &leaves {
        let adds_files = [&step.paths.ca_copy, &step.paths.bundle]
            .into_iter()
            .flatten()
            .any(|p| !p.exists());
        if (step.generate.is_some() || adds_files) && !dirs.contains(&step.paths.dir.as_path()) {
            dirs.push(&step.paths.dir);
        }
    }
    for dir in dirs {
        fsio::probe(dir)?;
    }
    if ca_generate == Some(Outcome::Created) && !request.ca {
        progress.event(&Event::CaMissing {
            ca_dir: &ca_paths.dir,
        });
    }
    Ok(Plan {
        layout,
        ca_paths,
        ca_generate,
        existing_ca,
        leaves,
    })
}

/// Phase 2: one key per identity the plan makes, the CA's first, then the leaves in plan order
/// (the order the write phase takes them in).
fn generate(plan: &Plan, options: &Options, progress: &dyn Progress) -> Result<Vec<KeyPair>> {
    let mut wanted: Vec<&Identity> = Vec::new();
    if plan.ca_generate.is_some() {
        wanted.push(&Identity::Ca);
    }
    wanted.extend(
        plan.leaves
            .iter()
            .filter(|s| s.generate.is_some())
            .map(|s| &s.identity),
    );
    generate_keys(&wanted, options.key_type, progress)
}

/// Phase 3a: the CA to sign with: the existing one (reported as kept), or a new self-signed one
/// written atomically with its key.
#[allow(clippy::too_many_arguments)]
fn write_ca(
    plan: &Plan,
    existing_ca: Option<LoadedCa>,
    request: &Request,
    validity: Validity,
    ca_key: Option<KeyPair>,
    tx: &Transaction,
    outcomes: &mut Vec<(Identity, Outcome)>,
    events: &mut Vec<Deferred>,
) -> Result<LoadedCa> {
    let ca_paths = &plan.ca_paths;
    if let Some(ca) = existing_ca {
        outcomes.push((Identity::Ca, Outcome::Existing));
        if request.ca {
            let expiry = inspect::cert_der_from_pem(ca.pem.as_bytes())
                .ok()
                .and_then(|der| inspect::parse(&der).ok().and_then(|c| expiry_of(&c)));
            events.push(Deferred::Exists(
                Identity::Ca,
                ca_paths.clone(),
                regenerate_hint(&Identity::Ca, plan.layout.root()),
                expiry,
            ));
        }
        return Ok(ca);
    }
    let (Some(outcome), Some(key)) = (plan.ca_generate, ca_key) else {
        return Err(CertsError::Crypto {
            what: "preparing the CA".into(),
            reason: "internal error: no CA key".into(),
        });
    };
    let params = profile::ca_params(validity);
    let cert = params
        .self_signed(&key)
        .map_err(profile::signing_error("CA certificate"))?;
    let pem = cert.pem();
    tx.create_dir(&ca_paths.dir)?;
    tx.write(&[
        new_file(&ca_paths.key, key.serialize_pem(), KEY_MODE, outcome),
        new_file(&ca_paths.cert, pem.clone(), CERT_MODE, outcome),
    ])?;
    outcomes.push((Identity::Ca, outcome));
    events.push(Deferred::Written(Identity::Ca, ca_paths.clone(), outcome));
    Ok(LoadedCa {
        issuer: Issuer::new(params, key),
        pem,
    })
}

/// A key or certificate file of a new identity: a created one never overwrites a file that
/// appeared meanwhile; a replaced one does, by definition.
fn new_file(path: &Path, contents: String, mode: u32, outcome: Outcome) -> NewFile {
    NewFile {
        path: path.to_path_buf(),
        contents: contents.into_bytes(),
        mode,
        no_clobber: outcome == Outcome::Created,
    }
}

/// Phase 3b: signs one leaf with the CA and writes its key, certificate, CA copy and bundle in
/// one all-or-nothing step. `Ok(false)` for the CA itself, which is never a leaf.
fn write_leaf(
    step: &Step,
    outcome: Outcome,
    key: KeyPair,
    ca: &LoadedCa,
    validity: Validity,
    options: &Options,
    tx: &Transaction,
) -> Result<bool> {
    let (params, what) = match &step.identity {
        Identity::Gateway => (
            profile::gateway_params(validity, &key, &options.gateway_sans)?,
            "gateway client certificate".to_string(),
        ),
        Identity::Plugin(name) => (
            profile::plugin_params(
                validity,
                name,
                &plugin_sans(name, &options.extra_sans),
                &key,
            )?,
            format!("certificate of plugin '{name}'"),
        ),
        Identity::Ca => return Ok(false),
    };
    let cert = params
        .signed_by(&key, &ca.issuer)
        .map_err(profile::signing_error(&what))?;
    let cert_pem = cert.pem();
    let key_pem = key.serialize_pem();
    let mut files = vec![
        new_file(&step.paths.key, key_pem.clone(), KEY_MODE, outcome),
        new_file(&step.paths.cert, cert_pem.clone(), CERT_MODE, outcome),
    ];
    if let Some(copy) = &step.paths.ca_copy {
        files.push(NewFile {
            path: copy.clone(),
            contents: ca.pem.clone().into_bytes(),
            mode: CERT_MODE,
            no_clobber: false,
        });
    }
    if let Some(bundle) = &step.paths.bundle {
        files.push(NewFile {
            path: bundle.clone(),
            contents: format!("{cert_pem}{key_pem}").into_bytes(),
            mode: KEY_MODE,
            no_clobber: false,
        });
    }
    tx.create_dir(&step.paths.dir)?;
    tx.write(&files)?;
    Ok(true)
}

/// A leaf that outlives its CA stops working when the CA expires; say so while it can be fixed.
fn warn_if_leaves_outlive_ca(
    plan: &Plan,
    ca_cert: &x509_parser::certificate::X509Certificate<'_>,
    validity: Validity,
    days: u32,
    events: &mut Vec<Deferred>,
) {
    let ca_not_after = ca_cert.validity().not_after.to_datetime();
    // A day of slack: a CA and leaves made minutes apart with the same --days are fine.
    let leaf_outlives_ca = ca_not_after + time::Duration::days(1) < validity.not_after;
    if plan.leaves.iter().any(|s| s.generate.is_some()) && leaf_outlives_ca {
        events.push(Deferred::Warning(format!(
            "the CA in {} expires on {}, before the certificates issued now ({} days): they stop working with it; consider a new CA (plugwire certs all --force{})",
            plan.ca_paths.dir.display(),
            ca_not_after.date(),
            days,
            dir_arg(plan.layout.root())
        )));
    }
}

/// After a CA replacement, the leaves not re-issued in this run still carry the old CA's
/// signature: peers using the new CA will reject them.
fn warn_stale_leaves(layout: &Layout, outcomes: &[(Identity, Outcome)], progress: &dyn Progress) {
    let stale: Vec<String> = layout
        .existing_leaves()
        .into_iter()
        .filter(|leaf| {
            !outcomes
                .iter()
                .any(|(i, o)| i == leaf && *o != Outcome::Existing)
        })
        .map(|leaf| layout.paths(&leaf).cert.display().to_string())
        .collect();
    if !stale.is_empty() {
        progress.event(&Event::Warning {
            message: &format!(
                "the CA was replaced, but {} still carry the old CA's signature: re-issue them with plugwire certs all --force{}",
                stale.join(", "),
                dir_arg(layout.root())
            ),
        });
    }
}

/// `--dir X` for hints, empty for the default directory.
fn dir_arg(root: &Path) -> String {
    if root == Path::new(crate::layout::DEFAULT_DIR) {
        String::new()
    } else {
        format!(" --dir {}", root.display())
    }
}

fn incomplete(
    identity: &Identity,
    paths: &IdentityPaths,
    present: PathBuf,
    missing: PathBuf,
    root: &Path,
) -> CertsError {
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    CertsError::Incomplete {
        what: identity.to_string(),
        dir: paths.dir.clone(),
        present: name(&present),
        missing: name(&missing),
        hint: regenerate_hint(identity, root),
    }
}

/// A CA ready to sign: an existing one (loaded in the plan phase, so a bad CA stops the run
/// before anything is written) or the one just made.
pub(crate) struct LoadedCa {
    pub(crate) issuer: Issuer<'static, KeyPair>,
    pub(crate) pem: String,
}

pub(crate) fn load_ca(paths: &IdentityPaths) -> Result<LoadedCa> {
    let pem_bytes = fsio::read(&paths.cert)?;
    let pem = String::from_utf8(pem_bytes).map_err(|_| CertsError::Parse {
        path: paths.cert.clone(),
        reason: "not a PEM file (not UTF-8 text)".into(),
    })?;
    let der = inspect::cert_der_from_pem(pem.as_bytes()).map_err(|reason| CertsError::Parse {
        path: paths.cert.clone(),
        reason,
    })?;
    let cert = inspect::parse(&der).map_err(|reason| CertsError::Parse {
        path: paths.cert.clone(),
        reason,
    })?;
    let key = inspect::read_key(&paths.key)?;
    if !inspect::key_matches(&key, &cert) {
        return Err(CertsError::CaKeyMismatch {
            key: paths.key.clone(),
            cert: paths.cert.clone(),
        });
    }
    let issuer =
        Issuer::from_ca_cert_der(&der.clone().into(), key).map_err(|e| CertsError::Parse {
            path: paths.cert.clone(),
            reason: format!("cannot use it as an issuer ({e})"),
        })?;
    Ok(LoadedCa { issuer, pem })
}

/// An existing leaf is left alone (and said to need renewing when it expires soon); only derived
/// files that are missing are added, and a leaf that the current CA did not issue is reported.
fn keep_existing(
    step: &Step,
    ca: &x509_parser::certificate::X509Certificate<'_>,
    ca_pem: &[u8],
    root: &Path,
    tx: &Transaction,
    events: &mut Vec<Deferred>,
) -> Result<()> {
    let hint = regenerate_hint(&step.identity, root);
    // A broken or foreign certificate is reported, not fatal: it is the user's file.
    let der = inspect::read_cert_der(&step.paths.cert).ok();
    let cert = der.as_deref().and_then(|der| inspect::parse(der).ok());
    events.push(Deferred::Exists(
        step.identity.clone(),
        step.paths.clone(),
        hint.clone(),
        cert.as_ref().and_then(expiry_of),
    ));
    let issued_by_ca = cert
        .as_ref()
        .map(|c| inspect::issued_by(c, ca))
        .unwrap_or(false);
    if !issued_by_ca {
        events.push(Deferred::Warning(format!(
            "{} is unreadable or was not issued by the CA in {}: peers will reject it; re-issue it with {hint}",
            step.paths.cert.display(),
            root.join("ca").display()
        )));
        return Ok(());
    }
    if let Some(copy) = step.paths.ca_copy.as_ref().filter(|p| !p.exists()) {
        tx.write(&[NewFile {
            path: copy.clone(),
            contents: ca_pem.to_vec(),
            mode: CERT_MODE,
            no_clobber: true,
        }])?;
        events.push(Deferred::Completed(copy.clone()));
    }
    if let Some(bundle) = step.paths.bundle.as_ref().filter(|p| !p.exists()) {
        let mut contents = fsio::read(&step.paths.cert)?;
        if !contents.ends_with(b"\n") {
            contents.push(b'\n');
        }
        contents.extend(fsio::read(&step.paths.key)?);
        tx.write(&[NewFile {
            path: bundle.clone(),
            contents,
            mode: KEY_MODE,
            no_clobber: true,
        }])?;
        events.push(Deferred::Completed(bundle.clone()));
    }
    Ok(())
}
