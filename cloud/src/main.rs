//! `starweave`: the command line.
fn main() {
    println!("starweave");
}
