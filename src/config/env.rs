//! `${env:NAME}` and `${env:NAME:-default}` substitution, done on the text before parsing so
//! that any value may come from the environment while line numbers stay those of the file.
//! `$${` escapes a literal `${`, and references of other kinds (`${resource:...}`) are left for
//! the components that render them.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsetVariable {
    pub name: String,
    pub line: usize,
}

/// Returns the substituted text (an unset variable without a default becomes empty, so that
/// parsing can go on and report other errors too) and every unset variable.
pub fn substitute(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> (String, Vec<UnsetVariable>) {
    let mut out = String::with_capacity(text.len());
    let mut unset = Vec::new();
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            if rest[..start].ends_with('$') {
                out.push_str(&rest[..start - 1]);
                out.push_str("${");
                rest = &rest[start + 2..];
                continue;
            }
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let (Some(spec), Some(end)) = (after.strip_prefix("env:"), after.find('}')) else {
                out.push_str("${");
                rest = after;
                continue;
            };
            let spec = &spec[..end - "env:".len()];
            let (name, default) = match spec.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (spec, None),
            };
            match (lookup(name), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => unset.push(UnsetVariable {
                    name: name.to_string(),
                    line: index + 1,
                }),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
    }
    (out, unset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "REGION").then(|| "us-east-1".to_string())
    }

    #[test]
    fn substitutes_set_variables_and_defaults() {
        let text = "a: ${env:REGION}\nb: ${env:MISSING:-fallback}-x\nc: ${env:MISSING:-}\n";
        assert_eq!(
            substitute(text, env),
            ("a: us-east-1\nb: fallback-x\nc: \n".to_string(), vec![])
        );
    }

    #[test]
    fn leaves_other_references_and_escapes_alone() {
        let text = "topic: gds.${resource:db.system}.$${env:REGION}\n";
        assert_eq!(
            substitute(text, env).0,
            "topic: gds.${resource:db.system}.${env:REGION}\n"
        );
    }

    #[test]
    fn reports_every_unset_variable_with_its_line() {
        let (text, unset) = substitute("a: 1\nb: ${env:ONE}\nc: ${env:TWO} ${env:REGION}\n", env);
        assert_eq!(text, "a: 1\nb: \nc:  us-east-1\n");
        assert_eq!(
            unset,
            vec![
                UnsetVariable {
                    name: "ONE".into(),
                    line: 2
                },
                UnsetVariable {
                    name: "TWO".into(),
                    line: 3
                },
            ]
        );
    }
}
