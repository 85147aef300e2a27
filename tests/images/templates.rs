//! Templates applied to unpacked images: the busybox image's hostname and hosts, `config_get`
//! with defaults, conditions, `create_only`, errors naming the template and the construct,
//! and targets that never leave the root file system.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, ensure, Result};
use lxd_core::image::{
    self, busybox, ImageError, ImageFiles, TemplateContext, Trigger, UnpackOptions,
};

use crate::fixture::{listing, q, sh, TestDir};

fn read(p: &Path) -> Result<String> {
    Ok(std::fs::read_to_string(p)?)
}

pub fn busybox_hostname_and_hosts() -> Result<()> {
    let t = TestDir::new("tpl-bb");
    let out = t.join("bb.tar.xz");
    busybox::build_image(&out)?;
    let vol = t.mkdir("vol");
    image::unpack(&ImageFiles::Unified(out), &vol, &UnpackOptions::default())?;
    ensure!(read(&vol.join("rootfs/etc/hostname"))? == "busybox\n");
    image::apply_templates(&vol, Trigger::Create, &TemplateContext::new("web1"))?;
    ensure!(read(&vol.join("rootfs/etc/hostname"))? == "web1\n");
    let hosts = read(&vol.join("rootfs/etc/hosts"))?;
    ensure!(
        hosts.starts_with("127.0.1.1\tweb1\n127.0.0.1\tlocalhost\n"),
        "{hosts}"
    );
    // The existing file keeps its owner and mode.
    let md = std::fs::metadata(vol.join("rootfs/etc/hostname"))?;
    ensure!(md.permissions().mode() & 0o7777 == 0o644 && md.uid() == 0);
    // Copy renders again; start has no rule in busybox images and changes nothing.
    image::apply_templates(&vol, Trigger::Copy, &TemplateContext::new("web2"))?;
    ensure!(read(&vol.join("rootfs/etc/hostname"))? == "web2\n");
    image::apply_templates(&vol, Trigger::Start, &TemplateContext::new("other"))?;
    ensure!(read(&vol.join("rootfs/etc/hostname"))? == "web2\n");
    Ok(())
}

const META: &str = r#"architecture: x86_64
creation_date: 1700000000
templates:
  /etc/motd:
    when: [create, copy]
    create_only: true
    template: motd.tpl
  /etc/net/mode:
    when: [create, copy, start]
    template: net.tpl
    properties:
      default: dhcp
  /etc/info:
    when: [start]
    template: info.tpl
"#;

const NET: &str = r#"{% if config_get("user.network_mode", "") == "link-local" %}manual{% elif config_get("user.network_mode", "") != "" %}{{ config_get("user.network_mode", "") }}{% else %}{{ properties.default }}{% endif %}
"#;

const INFO: &str = r#"{{ instance.name }} {{ container.type }} {{ container.architecture }} privileged={{ container.privileged }} trigger={{ trigger }} path={{ path }}
{{ config_get("user.greeting", "hello") }}/{{ config_get("user.missing", "default-value") }}
{%- if config_get("security.privileged", "false") == "true" %} (privileged){% endif %}
{# a comment #}{% if not config.absent and instance.name %}named{% endif %}
"#;

/// An unpacked image with `META`'s rules and templates, in `vol`.
fn volume(t: &TestDir, motd: &str, info: &str) -> Result<std::path::PathBuf> {
    let base = t.mkdir("base");
    std::fs::create_dir_all(base.join("rootfs/etc"))?;
    std::fs::create_dir_all(base.join("templates"))?;
    std::fs::write(base.join("metadata.yaml"), META)?;
    std::fs::write(base.join("templates/motd.tpl"), motd)?;
    std::fs::write(base.join("templates/net.tpl"), NET)?;
    std::fs::write(base.join("templates/info.tpl"), info)?;
    let tarball = t.join("image.tar.gz");
    sh(&format!(
        "tar -C {} -czf {} metadata.yaml templates rootfs",
        q(&base),
        q(&tarball)
    ))?;
    let vol = t.mkdir("vol");
    image::unpack(
        &ImageFiles::Unified(tarball),
        &vol,
        &UnpackOptions::default(),
    )?;
    Ok(vol)
}

pub fn config_get_conditions_and_create_only() -> Result<()> {
    let t = TestDir::new("tpl-rules");
    let vol = volume(&t, "Welcome to {{ container.name }}\n", INFO)?;
    let mut ctx = TemplateContext::new("c1");
    image::apply_templates(&vol, Trigger::Create, &ctx)?;
    ensure!(read(&vol.join("rootfs/etc/motd"))? == "Welcome to c1\n");
    // The missing parent /etc/net was created; the property default applied.
    ensure!(read(&vol.join("rootfs/etc/net/mode"))? == "dhcp\n");
    let md = std::fs::metadata(vol.join("rootfs/etc/net/mode"))?;
    ensure!(md.permissions().mode() & 0o777 == 0o644);
    ensure!(
        std::fs::metadata(vol.join("rootfs/etc/net"))?
            .permissions()
            .mode()
            & 0o777
            == 0o755
    );
    ensure!(
        !vol.join("rootfs/etc/info").exists(),
        "a start-only rule ran on create"
    );

    // Copy: create_only leaves the existing motd alone; the config drives the condition.
    ctx.name = "c2".into();
    ctx.config
        .insert("user.network_mode".into(), "link-local".into());
    image::apply_templates(&vol, Trigger::Copy, &ctx)?;
    ensure!(
        read(&vol.join("rootfs/etc/motd"))? == "Welcome to c1\n",
        "create_only rewrote the file"
    );
    ensure!(read(&vol.join("rootfs/etc/net/mode"))? == "manual\n");
    // create_only still creates a missing file.
    std::fs::remove_file(vol.join("rootfs/etc/motd"))?;
    image::apply_templates(&vol, Trigger::Copy, &ctx)?;
    ensure!(read(&vol.join("rootfs/etc/motd"))? == "Welcome to c2\n");

    ctx.config
        .insert("user.network_mode".into(), "static\n".into());
    ctx.config.insert("user.greeting".into(), "hi\r\n".into());
    ctx.config
        .insert("security.privileged".into(), "true".into());
    ctx.privileged = true;
    image::apply_templates(&vol, Trigger::Start, &ctx)?;
    ensure!(read(&vol.join("rootfs/etc/net/mode"))? == "static\n");
    let info = read(&vol.join("rootfs/etc/info"))?;
    let expected = format!(
        "c2 container {} privileged=true trigger=start path=/etc/info\nhi/default-value (privileged)\nnamed\n",
        ctx.architecture
    );
    ensure!(info == expected, "info:\n{info}\nexpected:\n{expected}");
    Ok(())
}

pub fn unsupported_constructs_are_errors() -> Result<()> {
    for (template, construct) in [
        ("{% for x in y %}{{ x }}{% endfor %}", "`for`"),
        ("{{ container.name|upper }}", "filters"),
        ("{% include \"/etc/shadow\" %}", "`include`"),
        ("{{ devices.eth0.hwaddr }}", "devices"),
        ("{% if container.name %}unclosed", "endif"),
    ] {
        let sub = TestDir::new("tpl-bad-case");
        let vol = volume(&sub, "motd\n", template)?;
        std::fs::write(vol.join("rootfs/etc/info"), "before\n")?;
        match image::apply_templates(&vol, Trigger::Start, &TemplateContext::new("x")) {
            Err(ImageError::Template {
                template: name,
                reason,
            }) => {
                ensure!(name == "info.tpl", "the error names {name:?}");
                ensure!(
                    reason.contains(construct),
                    "{template}: {reason} does not name {construct}"
                );
            }
            other => bail!("{template}: expected a template error, got {other:?}"),
        }
        ensure!(
            read(&vol.join("rootfs/etc/info"))? == "before\n",
            "{template}: the target changed"
        );
    }
    Ok(())
}

pub fn targets_stay_inside_the_rootfs() -> Result<()> {
    let t = TestDir::new("tpl-escape");
    let canary = t.mkdir("canary");
    std::fs::write(canary.join("motd"), "canary\n")?;
    let vol = volume(&t, "owned {{ container.name }}\n", "info\n")?;
    // /etc inside the instance points at the canary's absolute path: it resolves inside the
    // rootfs, where that path is a directory of the instance.
    let etc = vol.join("rootfs/etc");
    std::fs::remove_dir_all(&etc)?;
    std::os::unix::fs::symlink(&canary, &etc)?;
    let before = listing(&canary)?;
    // While that path does not exist in the instance, the symlink dangles: an error.
    match image::apply_templates(&vol, Trigger::Create, &TemplateContext::new("c")) {
        Err(ImageError::Template { reason, .. }) if reason.contains("dangling") => {}
        other => bail!("expected a dangling-symlink error, got {other:?}"),
    }
    ensure!(
        listing(&canary)? == before,
        "a template wrote outside the rootfs"
    );
    let inside_dir = vol.join("rootfs").join(canary.strip_prefix("/")?);
    std::fs::create_dir_all(&inside_dir)?;
    image::apply_templates(&vol, Trigger::Create, &TemplateContext::new("c"))?;
    ensure!(
        listing(&canary)? == before,
        "a template wrote outside the rootfs"
    );
    ensure!(
        read(&inside_dir.join("motd"))? == "owned c\n",
        "the target did not resolve inside the rootfs"
    );
    ensure!(read(&inside_dir.join("net/mode"))? == "dhcp\n");
    // /etc -> ../../../../../.. climbs no higher than the rootfs.
    std::fs::remove_file(&etc)?;
    std::os::unix::fs::symlink("../../../../../..", &etc)?;
    image::apply_templates(&vol, Trigger::Create, &TemplateContext::new("d"))?;
    ensure!(listing(&canary)? == before);
    ensure!(read(&vol.join("rootfs/motd"))? == "owned d\n");
    // A template file that is a symlink is refused (it could read host files).
    let tpl = vol.join("templates/motd.tpl");
    std::fs::remove_file(&tpl)?;
    std::os::unix::fs::symlink(canary.join("motd"), &tpl)?;
    match image::apply_templates(&vol, Trigger::Create, &TemplateContext::new("e")) {
        Err(ImageError::Template { template, reason }) => {
            ensure!(
                template == "motd.tpl" && reason.contains("symlink"),
                "{reason}"
            );
        }
        other => bail!("expected a template error, got {other:?}"),
    }
    // A target that is a directory is an error.
    let vol2 = {
        let sub = TestDir::new("tpl-dir");
        let v = volume(&sub, "m\n", "i\n")?;
        std::fs::create_dir_all(v.join("rootfs/etc/motd"))?;
        let r = image::apply_templates(&v, Trigger::Create, &TemplateContext::new("f"));
        ensure!(
            matches!(&r, Err(ImageError::Template { reason, .. }) if reason.contains("directory")),
            "{r:?}"
        );
        sub
    };
    drop(vol2);
    // No metadata.yaml: nothing to apply.
    let empty = t.mkdir("empty-volume");
    image::apply_templates(&empty, Trigger::Create, &TemplateContext::new("g"))?;
    Ok(())
}
