import "./globals.css";

export const metadata = {
  title: "Quiz generator (hub example)",
  description: "Submit a quiz to the hub and watch its progress live.",
};

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
