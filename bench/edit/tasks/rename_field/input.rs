#[derive(Debug, Clone)]
pub struct Config {
    pub name: String,
    pub verbose: bool,
    pub max_jobs: usize,
}

impl Config {
    pub fn new(name: &str) -> Self {
        Config { name: name.to_string(), verbose: false, max_jobs: 4 }
    }

    pub fn with_jobs(mut self, n: usize) -> Self {
        self.max_jobs = n.max(1);
        self
    }

    pub fn describe(&self) -> String {
        format!("{} (jobs: {}, verbose: {})", self.name, self.max_jobs, self.verbose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_at_least_one() {
        assert_eq!(Config::new("x").with_jobs(0).max_jobs, 1);
    }
}
