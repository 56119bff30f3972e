//! `--setup-script` through the real binary: the set-up script for both
//! transports and the removal script, checked for structure (every step,
//! in order), for the configured tenant, application and mailbox, for the
//! object id being looked up rather than pasted, and for never holding the
//! configured secret. No tenant is available here, so the PowerShell is
//! not run; docs/setup-script.md cites Microsoft's page for each cmdlet.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{Run, Scratch, s, sendmail};

const SECRET: &str = "Q~8sFake.Secret-Value_0123456789abcdefXYZ";
const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
const MAILBOX: &str = "alerts@contoso.com";
const TENANT: &str = "contoso.onmicrosoft.com";

fn conf(scratch: &Scratch, extra: &str) -> PathBuf {
    let path = scratch.join("sendmail.conf");
    let text = format!(
        "tenant = \"{TENANT}\"\nclient_id = \"{CLIENT_ID}\"\nuser = \"{MAILBOX}\"\nclient_secret = \"{SECRET}\"\n{extra}"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn script(extra: &str, args: &[&str]) -> Run {
    let scratch = Scratch::new("setup-script");
    let conf = conf(&scratch, extra);
    let mut argv = vec!["-C", s(&conf), "--setup-script"];
    argv.extend_from_slice(args);
    sendmail(&argv, b"")
}

/// The steps' lines appear in this order, each once.
#[track_caller]
fn in_order(text: &str, needles: &[&str]) {
    let mut at = 0;
    for needle in needles {
        match text[at..].find(needle) {
            Some(i) => at += i + needle.len(),
            None => panic!("{needle:?} missing or out of order in:\n{text}"),
        }
    }
}

#[track_caller]
fn common_checks(text: &str) {
    assert!(!text.contains(SECRET), "the secret is never printed");
    assert!(!text.contains("Q~8s"), "not even part of it");
    assert!(text.contains(&format!("$TenantId       = '{TENANT}'")));
    assert!(text.contains(&format!("$Mailbox        = '{MAILBOX}'")));
    assert!(text.contains(&format!("$AppId          = '{CLIENT_ID}'")));
    // The only GUIDs: the configured client ID and Microsoft's own
    // resource application IDs; every object id is looked up.
    for word in text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-')) {
        if word.len() == 36 && word.matches('-').count() == 4 {
            assert!(
                [
                    CLIENT_ID,
                    "00000002-0000-0ff1-ce00-000000000000",
                    "00000003-0000-0000-c000-000000000000"
                ]
                .contains(&word),
                "{word} is pasted into the script"
            );
        }
    }
}

#[test]
fn smtp_has_every_step() {
    let run = script("", &[]);
    run.expect(0);
    let text = &run.stdout;
    common_checks(text);
    in_order(
        text,
        &[
            "--setup-script --transport smtp",
            "# Step 0",
            "openssl req -x509 -newkey rsa:3072",
            "-keyout /etc/oauth2-sendmail/private-key.pem -out /etc/oauth2-sendmail/certificate.pem",
            "# Step 1",
            "Connect-MgGraph -TenantId $TenantId -Environment Global",
            "Connect-ExchangeOnline -ExchangeEnvironmentName O365Default",
            "# Step 2",
            "Get-MgApplication -Filter \"appId eq '$AppId'\"",
            "New-MgApplication -DisplayName $AppName -SignInAudience AzureADMyOrg",
            "# Step 3",
            "Update-MgApplication -ApplicationId $App.Id -KeyCredentials",
            "Type = 'AsymmetricX509Cert'; Usage = 'Verify'; Key = $Certificate.RawData",
            "# Step 4",
            "$ServicePrincipal = Get-MgServicePrincipal -Filter \"appId eq '$AppId'\"",
            "New-MgServicePrincipal -AppId $AppId",
            "# Step 5",
            "Get-MgServicePrincipal -Filter \"appId eq '00000002-0000-0ff1-ce00-000000000000'\"",
            "Get-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $ServicePrincipal.Id",
            "Remove-MgServicePrincipalAppRoleAssignment",
            "# Step 6",
            "New-ServicePrincipal -AppId $AppId -ObjectId $ServicePrincipal.Id -DisplayName $AppName",
            "# Step 7",
            "New-ManagementScope -Name $ScopeName -RecipientRestrictionFilter \"PrimarySmtpAddress -eq '$($MailboxObject.PrimarySmtpAddress)'\"",
            "# Step 8",
            "New-ManagementRoleAssignment -Name $AssignmentName -Role $Role -App $AppId -CustomResourceScope $ScopeName",
            "# Step 9",
            "Set-CASMailbox -Identity $Mailbox -SmtpClientAuthenticationDisabled $false",
            "Get-MgPolicyIdentitySecurityDefaultEnforcementPolicy",
            "# Step 10",
            "Test-ServicePrincipalAuthorization -Identity $AppId -Resource $Mailbox",
            "# Step 11",
            "client_id = \"\"$AppId\"\"",
            "certificate_file = \"/etc/oauth2-sendmail/certificate.pem\"",
            "transport = \"smtp\"",
        ],
    );
    assert!(text.contains("$Role           = 'Application SMTP.SendAsApp'"));
    assert!(text.contains("$ScopeName      = 'oauth2-sendmail alerts@contoso.com'"));
    // The configured secret gets replaced by the certificate.
    assert!(text.contains("remove client_secret"));
    // No Entra application permission is granted: it would reach every mailbox.
    assert!(!text.contains("New-MgServicePrincipalAppRoleAssignment"));
}

#[test]
fn graph_grants_mail_send_and_leaves_smtp_auth_alone() {
    let run = script("", &["--transport", "graph"]);
    run.expect(0);
    let text = &run.stdout;
    common_checks(text);
    assert!(text.contains("$Role           = 'Application Mail.Send'"));
    assert!(text.contains(
        "Get-MgServicePrincipal -Filter \"appId eq '00000003-0000-0000-c000-000000000000'\""
    ));
    assert!(!text.contains("Set-CASMailbox"), "SMTP AUTH stays as it is");
    in_order(
        text,
        &[
            "--setup-script --transport graph",
            "# Step 6",
            "New-ServicePrincipal -AppId $AppId -ObjectId $ServicePrincipal.Id",
            "# Step 7",
            "New-ManagementScope",
            "# Step 8",
            "New-ManagementRoleAssignment",
            "# Step 10",
            "Test-ServicePrincipalAuthorization",
            "transport = \"graph\"",
        ],
    );
}

#[test]
fn the_file_can_choose_the_transport_and_the_cloud() {
    let run = script("transport = \"graph\"\ncloud = \"gcc-high\"\n", &[]);
    run.expect(0);
    assert!(run.stdout.contains("--transport graph"));
    assert!(
        run.stdout
            .contains("Connect-MgGraph -TenantId $TenantId -Environment USGov ")
    );
    assert!(
        run.stdout
            .contains("-ExchangeEnvironmentName O365USGovGCCHigh")
    );
    // The command line wins.
    let run = script("transport = \"graph\"\n", &["--transport", "smtp"]);
    run.expect(0);
    assert!(run.stdout.contains("Set-CASMailbox"));
}

#[test]
fn undo_removes_what_the_setup_created() {
    for (transport, cas) in [("smtp", true), ("graph", false)] {
        let run = script("", &["--transport", transport, "--undo"]);
        run.expect(0);
        let text = &run.stdout;
        common_checks(text);
        in_order(
            text,
            &[
                "--undo",
                "Remove-ManagementRoleAssignment -Identity $AssignmentName -Confirm:$false",
                "Remove-ManagementScope -Identity $ScopeName -Confirm:$false",
                "Remove-ServicePrincipal -Identity $AppId -Confirm:$false",
            ],
        );
        assert_eq!(
            text.contains(
                "Set-CASMailbox -Identity $Mailbox -SmtpClientAuthenticationDisabled $null"
            ),
            cas,
            "{transport}"
        );
        // Only an application the set-up created is deleted.
        assert!(text.contains("$App.Notes -eq 'created by oauth2-sendmail --setup-script'"));
        assert!(text.contains("Remove-MgApplication -ApplicationId $App.Id"));
        assert!(
            !text.contains("New-"),
            "{transport}: the removal creates nothing"
        );
    }
}

#[test]
fn without_client_id_the_script_registers_the_application() {
    let scratch = Scratch::new("setup-new-app");
    let path = scratch.join("sendmail.conf");
    std::fs::write(
        &path,
        format!("tenant = \"{TENANT}\"\nuser = \"{MAILBOX}\"\n"),
    )
    .unwrap();
    let run = sendmail(&["-C", s(&path), "--setup-script"], b"");
    run.expect(0);
    assert!(run.stdout.contains("$AppId          = ''"));
    assert!(
        run.stdout
            .contains("-Notes 'created by oauth2-sendmail --setup-script'")
    );
    assert!(!run.stdout.contains("remove client_secret"));
}

#[test]
fn what_it_cannot_build_from_is_refused() {
    let scratch = Scratch::new("setup-refused");
    let missing = scratch.join("missing.conf");
    let run = sendmail(&["-C", s(&missing), "--setup-script"], b"");
    run.expect(78);
    assert!(
        run.stderr.contains("cannot read configuration file"),
        "{}",
        run.stderr
    );
    let path = scratch.join("sendmail.conf");
    std::fs::write(&path, format!("tenant = \"{TENANT}\"\n")).unwrap();
    let run = sendmail(&["-C", s(&path), "--setup-script"], b"");
    run.expect(78);
    assert!(run.stderr.contains("user is not set"), "{}", run.stderr);
    let run = sendmail(&["--setup-script", "--transport", "imap"], b"");
    run.expect(64);
    let run = sendmail(&["--undo"], b"");
    run.expect(64);
}

#[test]
fn an_account_gets_a_script_of_its_own() {
    let accounts = "[accounts.shop]\nuser = \"shop@contoso.com\"\ntransport = \"graph\"\nclient_secret = \"Q~8sOther.Secret\"\n";
    let top = script(accounts, &[]);
    top.expect(0);
    common_checks(&top.stdout);
    assert!(
        top.stdout.contains("other accounts (shop)"),
        "{}",
        top.stdout
    );

    let shop = script(accounts, &["--account", "shop"]);
    shop.expect(0);
    assert!(!shop.stdout.contains("Q~8s"), "no secret");
    assert!(
        shop.stdout
            .contains("--setup-script --account shop --transport graph"),
        "{}",
        shop.stdout
    );
    assert!(shop.stdout.contains("$Mailbox        = 'shop@contoso.com'"));
    // The client and tenant come from the top level, laid under the account.
    assert!(
        shop.stdout
            .contains(&format!("$AppId          = '{CLIENT_ID}'"))
    );
    assert!(
        shop.stdout
            .contains("$Role           = 'Application Mail.Send'")
    );
    assert!(
        shop.stdout
            .contains("$ScopeName      = 'oauth2-sendmail shop@contoso.com'")
    );

    let missing = script(accounts, &["--account", "site9"]);
    missing.expect(78);
    assert!(
        missing.stderr.contains("no [accounts.site9]"),
        "{}",
        missing.stderr
    );
}

/// A caller the binary runs set-group-ID for may not see the configured
/// names through it.
#[test]
fn a_set_group_id_caller_is_refused() {
    const GROUP: u32 = 3_999_210;
    const USER: u32 = 3_999_211;
    let scratch = Scratch::new("setup-setgid");
    std::fs::set_permissions(&scratch.path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let binary = scratch.join("sendmail");
    common::copy_binary(&binary);
    std::os::unix::fs::chown(&binary, Some(0), Some(GROUP)).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o2755)).unwrap();
    let output = Command::new(s(&binary))
        .arg("--setup-script")
        .uid(USER)
        .gid(USER)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(77), "{stderr}");
    assert!(stderr.contains("--setup-script is refused"), "{stderr}");
    assert!(output.stdout.is_empty());
}
