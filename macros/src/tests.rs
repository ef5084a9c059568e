//! Expansion snapshots: the code each option generates, pretty-printed. The book
//! includes these files, so a change to the generated code fails here until the
//! snapshot — and with it the book — is reviewed and updated.
