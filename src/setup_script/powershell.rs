//! The PowerShell text of `--setup-script`, set-up and removal. Pure:
//! settings in, script out. Each step is a `# Step N:` comment and its
//! commands; docs/setup-script.md cites Microsoft's page for every cmdlet
//! and parameter used here.
//!
//! The permission is granted through RBAC for Applications only (a role
//! assignment over a management scope that holds just the mailbox): an
//! Entra application permission (admin consent for SMTP.SendAsApp or
//! Mail.Send) would add to it and reach every mailbox, so the script
//! grants none and warns about one it finds.

use super::settings::{Settings, Transport};

/// Office 365 Exchange Online's application ID (the SMTP resource).
const EXCHANGE_APP_ID: &str = "00000002-0000-0ff1-ce00-000000000000";
/// Microsoft Graph's application ID.
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// Names the script gives what it creates, so `--undo` finds them.
fn names(s: &Settings) -> (String, String, String) {
    let role = role(s.transport);
    (
        format!("oauth2-sendmail {}", s.mailbox),
        format!("oauth2-sendmail {}", s.mailbox),
        format!(
            "oauth2-sendmail {} {}",
            s.mailbox,
            role.trim_start_matches("Application ")
        ),
    )
}

fn role(t: Transport) -> &'static str {
    match t {
        Transport::Smtp => "Application SMTP.SendAsApp",
        Transport::Graph => "Application Mail.Send",
    }
}

fn header(s: &Settings, origin: &str, undo: bool) -> String {
    let (app_name, scope_name, assignment_name) = names(s);
    let what = if undo { "removes what" } else { "sets up what" };
    format!(
        "# oauth2-sendmail {version} --setup-script{account_flag} --transport {transport}{undo_flag}
# Built from {origin}. This script {what} oauth2-sendmail needs in
# Microsoft Entra ID and Exchange Online to send as {mailbox}.{others}
# Run it in PowerShell 7 as an administrator who may manage applications
# (Application Administrator) and Exchange roles (Organization Management).
# It asks for no secret and prints none. Read it before running it.
#Requires -Modules {modules}
$ErrorActionPreference = 'Stop'

$TenantId       = '{tenant}'
$Mailbox        = '{mailbox}'
$AppId          = '{app_id}'   # '' : register a new application
$AppName        = '{app_name}'
$ScopeName      = '{scope_name}'
$AssignmentName = '{assignment_name}'
$Role           = '{role}'
",
        version = env!("CARGO_PKG_VERSION"),
        transport = s.transport.name(),
        undo_flag = if undo { " --undo" } else { "" },
        account_flag = s
            .account
            .as_ref()
            .map_or_else(String::new, |name| format!(" --account {name}")),
        others = if s.other_accounts.is_empty() {
            String::new()
        } else {
            format!(
                "\n# The file has other accounts ({}): each has a script of its own\n# (--setup-script --account NAME).",
                s.other_accounts.join(", ")
            )
        },
        mailbox = s.mailbox,
        tenant = s.tenant,
        app_id = s.client_id.as_deref().unwrap_or(""),
        role = role(s.transport),
        modules = match s.transport {
            Transport::Smtp if !undo =>
                "Microsoft.Graph.Authentication, Microsoft.Graph.Applications, Microsoft.Graph.Identity.SignIns, ExchangeOnlineManagement",
            _ =>
                "Microsoft.Graph.Authentication, Microsoft.Graph.Applications, ExchangeOnlineManagement",
        },
    )
}

fn connect(s: &Settings, graph_scopes: &str) -> String {
    format!(
        "
# Step 1: connect to Microsoft Graph and to Exchange Online.
Connect-MgGraph -TenantId $TenantId -Environment {graph_env} -Scopes {graph_scopes} -NoWelcome
Connect-ExchangeOnline -ExchangeEnvironmentName {exo_env} -ShowBanner:$false
",
        graph_env = s.cloud.graph_environment(),
        exo_env = s.cloud.exchange_environment(),
    )
}

/// The set-up script.
pub fn setup(s: &Settings, origin: &str) -> String {
    let mut out = header(s, origin, false);
    let cert = s.certificate_file.display();
    let key = s.private_key_file.display();
    out.push_str(&format!(
        "
# Step 0, on the Linux server (not here): the certificate credential.
# The private key is made on the server and never leaves it; only the
# public certificate is uploaded below.{existing}
#   openssl req -x509 -newkey rsa:3072 -sha256 -days 730 -nodes -subj '/CN=oauth2-sendmail {mailbox}' -keyout {key} -out {cert}
#   chown root:oauth2-sendmail {key} {cert}
#   chmod 0640 {key} {cert}
# Copy {cert} (the certificate only) next to this script:
$CertificateFile = './{cert_name}'
",
        existing = if s.has_certificate {
            "\n# sendmail.conf names this certificate already: skip the openssl command."
        } else {
            ""
        },
        mailbox = s.mailbox,
        cert_name = s
            .certificate_file
            .file_name()
            .map_or("certificate.pem".into(), |n| n.to_string_lossy()),
    ));
    out.push_str(&connect(
        s,
        "'Application.ReadWrite.All', 'Policy.Read.All'",
    ));
    out.push_str(
        "
# Step 2: the application registration (the configured one, or a new one).
if ($AppId) {
    $App = Get-MgApplication -Filter \"appId eq '$AppId'\"
    if (-not $App) { throw \"no application with client_id $AppId in this tenant\" }
} else {
    $App = New-MgApplication -DisplayName $AppName -SignInAudience AzureADMyOrg -Notes 'created by oauth2-sendmail --setup-script'
    $AppId = $App.AppId
}

# Step 3: the certificate credential (public certificate only).
$Certificate = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new((Resolve-Path $CertificateFile).Path)
$Registered = @($App.KeyCredentials | Where-Object { [Convert]::ToBase64String($_.CustomKeyIdentifier) -eq [Convert]::ToBase64String($Certificate.GetCertHash()) })
if ($Registered.Count -eq 0) {
    if (@($App.KeyCredentials).Count -gt 0) {
        # Update-MgApplication -KeyCredentials replaces every key: with keys
        # there already, upload in the portal so none is lost.
        throw \"the application has other certificates: upload $CertificateFile in Entra admin center > App registrations > $AppName > Certificates & secrets > Certificates, then run this script again\"
    }
    Update-MgApplication -ApplicationId $App.Id -KeyCredentials @(@{
        Type = 'AsymmetricX509Cert'; Usage = 'Verify'; Key = $Certificate.RawData; DisplayName = 'oauth2-sendmail'
    })
}

# Step 4: the enterprise application (service principal), looked up here:
# its object id is what Exchange needs, never the app registration's.
$ServicePrincipal = Get-MgServicePrincipal -Filter \"appId eq '$AppId'\"
if (-not $ServicePrincipal) { $ServicePrincipal = New-MgServicePrincipal -AppId $AppId }
",
    );
    let resource = match s.transport {
        Transport::Smtp => (
            "Office 365 Exchange Online",
            EXCHANGE_APP_ID,
            "SMTP.SendAsApp",
        ),
        Transport::Graph => ("Microsoft Graph", GRAPH_APP_ID, "Mail.Send"),
    };
    out.push_str(&format!(
        "
# Step 5: the permission. Exactly one: {role}, granted in Step 8 by
# RBAC for Applications over a scope holding only $Mailbox. No API
# permission ({permission} under {resource_name}) and no admin consent: an
# Entra grant adds to the RBAC one and reaches every mailbox. Check there is none:
$Resource = Get-MgServicePrincipal -Filter \"appId eq '{resource_id}'\"
$TenantWide = @(Get-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $ServicePrincipal.Id | Where-Object {{ $_.ResourceId -eq $Resource.Id }})
foreach ($Grant in $TenantWide) {{
    Write-Warning \"$AppName holds a tenant-wide {resource_name} application permission, which reaches every mailbox. Remove it with: Remove-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $($ServicePrincipal.Id) -AppRoleAssignmentId $($Grant.Id)\"
}}

# Step 6: the Exchange service principal, with the enterprise application's object id.
$ExchangePrincipal = Get-ServicePrincipal -Identity $AppId -ErrorAction SilentlyContinue
if (-not $ExchangePrincipal) {{
    $ExchangePrincipal = New-ServicePrincipal -AppId $AppId -ObjectId $ServicePrincipal.Id -DisplayName $AppName
}} elseif ($ExchangePrincipal.ObjectId -ne $ServicePrincipal.Id) {{
    throw \"Exchange's service principal for $AppId has object id $($ExchangePrincipal.ObjectId), not the enterprise application's $($ServicePrincipal.Id): Remove-ServicePrincipal -Identity $AppId, then run this script again\"
}}

# Step 7: a management scope that holds only $Mailbox.
$MailboxObject = Get-Mailbox -Identity $Mailbox
if (-not (Get-ManagementScope -Identity $ScopeName -ErrorAction SilentlyContinue)) {{
    New-ManagementScope -Name $ScopeName -RecipientRestrictionFilter \"PrimarySmtpAddress -eq '$($MailboxObject.PrimarySmtpAddress)'\"
}}

# Step 8: the role assignment: {role} over that scope only.
if (-not (Get-ManagementRoleAssignment -Identity $AssignmentName -ErrorAction SilentlyContinue)) {{
    New-ManagementRoleAssignment -Name $AssignmentName -Role $Role -App $AppId -CustomResourceScope $ScopeName
}}
",
        role = role(s.transport),
        permission = resource.2,
        resource_name = resource.0,
        resource_id = resource.1,
    ));
    match s.transport {
        Transport::Smtp => out.push_str(
            "
# Step 9: SMTP AUTH for this mailbox only (the tenant-wide setting stays as it is).
Set-CASMailbox -Identity $Mailbox -SmtpClientAuthenticationDisabled $false
if ((Get-MgPolicyIdentitySecurityDefaultEnforcementPolicy).IsEnabled) {
    Write-Warning 'Security Defaults are on: they keep SMTP AUTH off whatever the mailbox says. Use transport = \"graph\" (oauth2-sendmail --setup-script --transport graph), or replace Security Defaults with Conditional Access policies.'
}
",
        ),
        Transport::Graph => out.push_str(
            "
# Step 9: nothing to enable for Graph: SMTP AUTH stays as it is.
",
        ),
    }
    out.push_str(&format!(
        "
# Step 10: verify. InScope must be True for {role} on $Mailbox.
# Exchange can take up to an hour to apply a new assignment to sending.
Test-ServicePrincipalAuthorization -Identity $AppId -Resource $Mailbox | Format-Table RoleName, GrantedPermissions, AllowedResourceScope, InScope

# Step 11: the values for /etc/oauth2-sendmail/sendmail.conf.
Write-Host ''
Write-Host 'sendmail.conf:'
Write-Host \"tenant = \"\"$((Get-MgContext).TenantId)\"\"\"
Write-Host \"client_id = \"\"$AppId\"\"\"
Write-Host \"user = \"\"$Mailbox\"\"\"
Write-Host 'certificate_file = \"{cert}\"'
Write-Host 'private_key_file = \"{key}\"'
Write-Host 'transport = \"{transport}\"'
{secret_note}
Disconnect-ExchangeOnline -Confirm:$false
Disconnect-MgGraph | Out-Null
",
        role = role(s.transport),
        transport = s.transport.name(),
        secret_note = if s.has_secret {
            "Write-Host '# and remove client_secret / client_secret_file: the certificate replaces the secret (delete the secret under Certificates & secrets too)'"
        } else {
            ""
        },
    ));
    out
}

/// The removal script: undoes [`setup`] for the same settings.
pub fn undo(s: &Settings, origin: &str) -> String {
    let mut out = header(s, origin, true);
    out.push_str(&connect(s, "'Application.ReadWrite.All'"));
    out.push_str(
        "
# Step 2: the role assignment and the management scope.
if (Get-ManagementRoleAssignment -Identity $AssignmentName -ErrorAction SilentlyContinue) {
    Remove-ManagementRoleAssignment -Identity $AssignmentName -Confirm:$false
}
if (Get-ManagementScope -Identity $ScopeName -ErrorAction SilentlyContinue) {
    Remove-ManagementScope -Identity $ScopeName -Confirm:$false
}

# Step 3: the Exchange service principal.
if ($AppId -and (Get-ServicePrincipal -Identity $AppId -ErrorAction SilentlyContinue)) {
    Remove-ServicePrincipal -Identity $AppId -Confirm:$false
}
",
    );
    if s.transport == Transport::Smtp {
        out.push_str(
            "
# Step 4: SMTP AUTH for the mailbox back to the organisation's setting.
Set-CASMailbox -Identity $Mailbox -SmtpClientAuthenticationDisabled $null
",
        );
    }
    out.push_str(
        "
# Step 5: the application, only if --setup-script created it (its notes
# say so); an application that existed before is left alone: remove its
# oauth2-sendmail certificate in Entra admin center > App registrations >
# the app > Certificates & secrets.
if ($AppId) {
    $App = Get-MgApplication -Filter \"appId eq '$AppId'\"
    if ($App -and $App.Notes -eq 'created by oauth2-sendmail --setup-script') {
        Remove-MgApplication -ApplicationId $App.Id
    } elseif ($App) {
        Write-Host \"$($App.DisplayName) existed before oauth2-sendmail's set-up and is kept\"
    }
}

Disconnect-ExchangeOnline -Confirm:$false
Disconnect-MgGraph | Out-Null
",
    );
    out
}
