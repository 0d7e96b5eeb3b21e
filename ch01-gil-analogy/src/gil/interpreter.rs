//! Section 1.5: the "bytecode" a global interpreter lock protects.
//!
//! CPython compiles `fib` into bytecode and a loop executes it one instruction at a time. The GIL is
//! about exactly that loop: only the thread holding the lock may execute the next instruction. To
//! show it faithfully we need instructions too, so this module is a tiny stack machine with the
//! book's recursive `fib` written out by hand as bytecode:
//!
//! ```python
//! def fib(n):
//!     if n < 2: return 0        # the book's fib(1) = 0
//!     if n == 2: return 1
//!     return fib(n - 1) + fib(n - 2)
//! ```
//!
//! The machine does not know about locks. It calls a hook after every instruction, and the
//! [GIL](super::lock) uses that hook (CPython's "eval breaker") to give the lock away when
//! another thread asks for it: between two instructions, never in the middle of one.

/// One instruction of the model interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Push the current function's argument.
    LoadArg,
    /// Push a constant.
    LoadConst(u64),
    /// Pop b, pop a, push a < b (1 or 0).
    Less,
    /// Pop b, pop a, push a == b (1 or 0).
    Equal,
    /// Pop b, pop a, push a - b.
    Sub,
    /// Pop b, pop a, push a + b.
    Add,
    /// Pop a value; jump to the instruction if it is 0.
    JumpIfFalse(usize),
    /// Pop the argument and call the function again with it (recursion).
    Call,
    /// Pop the result and return it to the caller.
    Return,
}

/// The book's recursive fib, compiled by hand into [`Op`]s.
pub const FIB: [Op; 22] = [
    // if n < 2: return 0
    Op::LoadArg,
    Op::LoadConst(2),
    Op::Less,
    Op::JumpIfFalse(6),
    Op::LoadConst(0),
    Op::Return,
    // if n == 2: return 1
    Op::LoadArg,
    Op::LoadConst(2),
    Op::Equal,
    Op::JumpIfFalse(12),
    Op::LoadConst(1),
    Op::Return,
    // return fib(n - 1) + fib(n - 2)
    Op::LoadArg,
    Op::LoadConst(1),
    Op::Sub,
    Op::Call,
    Op::LoadArg,
    Op::LoadConst(2),
    Op::Sub,
    Op::Call,
    Op::Add,
    Op::Return,
];

/// Where a call returns to, and its argument.
#[derive(Debug, Clone, Copy)]
struct Frame {
    return_to: usize,
    arg: u64,
}

/// A stack machine running one function call to completion, one instruction per step.
#[derive(Debug, Clone)]
pub struct Machine {
    pc: usize,
    frames: Vec<Frame>,
    stack: Vec<u64>,
}

impl Machine {
    /// A machine about to call `fib(n)`.
    pub fn fib(n: u32) -> Self {
        Self {
            pc: 0,
            frames: vec![Frame {
                return_to: usize::MAX,
                arg: u64::from(n),
            }],
            stack: Vec::with_capacity(64),
        }
    }

    /// Executes exactly one instruction; the value once the outermost call has returned.
    fn step(&mut self) -> Option<u64> {
        let op = FIB[self.pc];
        self.pc += 1;
        match op {
            Op::LoadArg => {
                let arg = self.frames.last().map(|frame| frame.arg);
                self.stack.push(arg.expect("a running machine has a frame"));
            }
            Op::LoadConst(value) => self.stack.push(value),
            Op::Less => self.binary(|a, b| u64::from(a < b)),
            Op::Equal => self.binary(|a, b| u64::from(a == b)),
            // Saturating: the code never subtracts below zero, but a model must not panic.
            Op::Sub => self.binary(u64::saturating_sub),
            Op::Add => self.binary(u64::wrapping_add),
            Op::JumpIfFalse(target) => self.pc = if self.pop() == 0 { target } else { self.pc },
            Op::Call => {
                let arg = self.pop();
                self.frames.push(Frame {
                    return_to: self.pc,
                    arg,
                });
                self.pc = 0;
            }
            Op::Return => {
                let finished = self.frames.pop().expect("a return always has a frame");
                if self.frames.is_empty() {
                    return Some(self.pop());
                }
                self.pc = finished.return_to;
            }
        }
        None
    }

    /// Runs to the end, calling `between_instructions` (where a GIL may change hands) after each.
    pub fn run(&mut self, mut between_instructions: impl FnMut()) -> u64 {
        loop {
            if let Some(value) = self.step() {
                return value;
            }
            between_instructions();
        }
    }

    fn pop(&mut self) -> u64 {
        let top = self.stack.pop();
        top.expect("the bytecode never pops an empty stack")
    }

    fn binary(&mut self, op: impl Fn(u64, u64) -> u64) {
        let (b, a) = (self.pop(), self.pop()); // b was pushed last
        self.stack.push(op(a, b));
    }
}
