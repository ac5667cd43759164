//! Terminals from runc: with `--console-socket`, runc sends the master side of the container's
//! (or exec'd process's) terminal over a unix socket as SCM_RIGHTS.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

/// Receive the terminal master runc sends on an accepted console-socket connection.
pub fn receive_fd(stream: &UnixStream) -> Result<OwnedFd, String> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
    let mut space = [std::mem::MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut ancillary = RecvAncillaryBuffer::new(&mut space);
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    recvmsg(stream, &mut iov, &mut ancillary, RecvFlags::empty()).map_err(|e| e.to_string())?;
    for message in ancillary.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = message
            && let Some(fd) = fds.next()
        {
            return Ok(fd);
        }
    }
    Err("runc sent no terminal".into())
}

/// Set a terminal's size.
pub fn resize(master: &OwnedFd, cols: u16, rows: u16) {
    let size = rustix::termios::Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    let _ = rustix::termios::tcsetwinsize(master, size);
}
