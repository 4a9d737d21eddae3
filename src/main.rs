//! The `punctual` binary: parses flags and starts tasks; everything else lives in the library.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "punctual",
    version,
    about = "Scheduled and on-demand agent actions on Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions (the YAML committed in crds/).
    Crds {
        /// Write one file per CRD into this directory instead of printing.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds { out_dir } => print_crds(out_dir),
    }
}

fn print_crds(out_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let docs = punctual::resources::crds_yaml()?;
    match out_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            for (file, yaml) in docs {
                std::fs::write(dir.join(file), yaml)?;
            }
        }
        None => {
            for (_, yaml) in docs {
                print!("---\n{yaml}");
            }
        }
    }
    Ok(())
}
