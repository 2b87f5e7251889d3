//! `kyso-mssp-sim`: the simulated MSSP and signing-SIM phones (see the library docs).

fn main() -> std::process::ExitCode {
    kyso_mssp_sim::cli::main()
}
