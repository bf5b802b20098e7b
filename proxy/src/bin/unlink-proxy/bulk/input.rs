//! The accounts of a run: ids on the command line, or a file (or standard input) of one id
//! per line, or CSV with a header `account_id[,principal][,reason]`. Every line is checked;
//! a bad one is reported with its number and skipped, never silently, and a repeated
//! account is done once.

use std::collections::HashMap;

use unlink_proxy::{Principal, account::AccountId, record::Reason};

/// One account to unlink, and what its line says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    /// Its line in the file (or position on the command line), from 1.
    pub(crate) number: usize,
    pub(crate) account: AccountId,
    /// From the CSV's `principal` column, if it has one.
    pub(crate) principal: Option<Principal>,
    /// From the CSV's `reason` column, if it has one.
    pub(crate) reason: Option<Reason>,
}

/// A line that is not an account to unlink, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub(crate) number: usize,
    pub(crate) why: String,
}

/// Everything read.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Input {
    pub(crate) lines: Vec<Line>,
    pub(crate) invalid: Vec<Invalid>,
    /// Lines naming an account an earlier line named: (line, the earlier line).
    pub(crate) repeated: Vec<(usize, usize)>,
}

impl Input {
    /// `ids` from the command line (positions count as line numbers).
    pub(crate) fn from_ids(ids: &[String]) -> Self {
        let mut input = Self::default();
        for (index, id) in ids.iter().enumerate() {
            input.add(index + 1, id, None, None);
        }
        input
    }

    /// A file's text: one id per line, or CSV with a header naming `account_id`. Blank lines
    /// and `#` comments are skipped. `needs_reason`: without `--reason`, every row must
    /// carry its own.
    pub(crate) fn parse(text: &str, needs_reason: bool) -> Result<Self, String> {
        let mut input = Self::default();
        let mut rows = text
            .lines()
            .enumerate()
            .map(|(index, line)| (index + 1, line.trim()))
            .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
            .peekable();
        let columns = match rows.peek() {
            Some((_, first)) if first.split(',').any(|c| c.trim() == "account_id") => {
                let header = rows.next().map(|(_, line)| line).unwrap_or_default();
                Some(Columns::read(header)?)
            }
            _ => None,
        };
        if columns.as_ref().is_none_or(|c| c.reason.is_none()) && needs_reason {
            return Err("give --reason, or a `reason` column in the CSV header".into());
        }
        for (number, line) in rows {
            match &columns {
                None => input.add(number, line, None, None),
                Some(columns) => {
                    let cells: Vec<&str> = line.split(',').map(str::trim).collect();
                    if cells.len() != columns.count {
                        input.invalid.push(Invalid {
                            number,
                            why: format!("{} cells, the header has {}", cells.len(), columns.count),
                        });
                        continue;
                    }
                    let principal = columns.principal.map(|at| cells[at]);
                    let reason = columns.reason.map(|at| cells[at]);
                    input.add(number, cells[columns.account], principal, reason);
                }
            }
        }
        Ok(input)
    }

    fn add(&mut self, number: usize, id: &str, principal: Option<&str>, reason: Option<&str>) {
        let mut why = Vec::new();
        let account = AccountId::parse(id)
            .map_err(|error| why.push(format!("not an account id ({error})")))
            .ok();
        let principal = match principal {
            None | Some("") => None,
            Some(principal) => Principal::new(principal)
                .map_err(|denied| why.push(format!("principal: {denied}")))
                .ok(),
        };
        let reason = match reason {
            None | Some("") => None,
            Some(reason) => reason
                .parse::<Reason>()
                .map_err(|_| why.push(format!("reason {reason:?} is not one of {}", reasons())))
                .ok(),
        };
        let Some(account) = account.filter(|_| why.is_empty()) else {
            self.invalid.push(Invalid {
                number,
                why: why.join("; "),
            });
            return;
        };
        self.lines.push(Line {
            number,
            account,
            principal,
            reason,
        });
    }

    /// Drops lines that repeat an earlier line's account, noting them.
    pub(crate) fn dedupe(mut self) -> Self {
        let mut first: HashMap<AccountId, usize> = HashMap::new();
        let mut kept = Vec::with_capacity(self.lines.len());
        for line in self.lines {
            match first.get(&line.account) {
                Some(earlier) => self.repeated.push((line.number, *earlier)),
                None => {
                    first.insert(line.account.clone(), line.number);
                    kept.push(line);
                }
            }
        }
        self.lines = kept;
        self
    }
}

/// Where the CSV's columns are.
struct Columns {
    count: usize,
    account: usize,
    principal: Option<usize>,
    reason: Option<usize>,
}

impl Columns {
    fn read(header: &str) -> Result<Self, String> {
        let names: Vec<&str> = header.split(',').map(str::trim).collect();
        let at = |name: &str| names.iter().position(|n| *n == name);
        if let Some(unknown) = names
            .iter()
            .find(|n| !["account_id", "principal", "reason"].contains(n))
        {
            return Err(format!(
                "unknown CSV column {unknown:?}: the header is account_id[,principal][,reason]"
            ));
        }
        Ok(Self {
            count: names.len(),
            account: at("account_id").ok_or("the CSV header has no account_id")?,
            principal: at("principal"),
            reason: at("reason"),
        })
    }
}

/// The reasons, for messages.
pub(crate) fn reasons() -> String {
    Reason::ALL
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "60770aa8c5878a2af69ed849";
    const B: &str = "65c4c03aa66a95b572cb5a86";

    #[test]
    fn one_id_per_line_with_comments_blanks_and_bad_lines_numbered() {
        let text = format!("# offboarding\n{A}\n\n../etc\n{B}\n{A}\n");
        let input = Input::parse(&text, false).unwrap().dedupe();
        let accounts: Vec<_> = input
            .lines
            .iter()
            .map(|l| (l.number, l.account.as_str()))
            .collect();
        assert_eq!(accounts, [(2, A), (5, B)]);
        assert_eq!(input.invalid.len(), 1);
        assert_eq!(input.invalid[0].number, 4);
        assert!(input.invalid[0].why.contains("not an account id"));
        assert_eq!(input.repeated, [(6, 2)]);
    }

    #[test]
    fn csv_with_principal_and_reason_columns() {
        let text = format!(
            "account_id,principal,reason\n{A},user-1,erasure_request\n{B},,account_closed\nbad id,u,other\n{A},user-2,because\n{B},x\n"
        );
        let input = Input::parse(&text, true).unwrap();
        assert_eq!(input.lines.len(), 2);
        assert_eq!(
            input.lines[0].principal,
            Some(Principal::new("user-1").unwrap())
        );
        assert_eq!(input.lines[0].reason, Some(Reason::ErasureRequest));
        assert_eq!(input.lines[1].principal, None);
        assert_eq!(input.lines[1].reason, Some(Reason::AccountClosed));
        let numbers: Vec<_> = input.invalid.iter().map(|i| i.number).collect();
        assert_eq!(numbers, [4, 5, 6]);
        assert!(
            input.invalid[1].why.contains("not one of user_request"),
            "{:?}",
            input.invalid
        );
        assert!(input.invalid[2].why.contains("2 cells, the header has 3"));
    }

    #[test]
    fn a_reason_is_required_from_the_flag_or_the_file() {
        assert!(Input::parse(A, true).unwrap_err().contains("--reason"));
        assert!(Input::parse(&format!("account_id\n{A}"), true).is_err());
        assert!(Input::parse(&format!("account_id,reason\n{A},offboarding"), true).is_ok());
        assert!(
            Input::parse("account_id,colour\nx,y", false)
                .unwrap_err()
                .contains("colour")
        );
    }

    #[test]
    fn ids_on_the_command_line_count_by_position() {
        let input = Input::from_ids(&[A.into(), "no/pe".into()]);
        assert_eq!(input.lines[0].number, 1);
        assert_eq!(input.invalid[0].number, 2);
    }
}
