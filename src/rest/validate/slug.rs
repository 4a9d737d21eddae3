//! The `action_id` a create derives from the name (docs/rest.md, "Create and update").

/// A valid, readable Kubernetes name from an Action's human name: lowercase letters, digits and
/// dashes, at most 50 characters (room for run-name suffixes), never empty.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 50 {
            break;
        }
    }
    let trimmed = out.trim_matches('-');
    if trimmed.is_empty() {
        "action".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_valid_kubernetes_names() {
        assert_eq!(slug("Daily Report (EU) "), "daily-report-eu");
        assert_eq!(slug("---"), "action");
        assert_eq!(slug("Ünïcode ✓"), "n-code");
        assert!(slug(&"x".repeat(300)).len() <= 50);
    }
}
